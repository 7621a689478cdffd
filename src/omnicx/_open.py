"""`omnicx.open`: one entry point for every backend."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._blobs import FileBlobStore, MemoryBlobStore
from ._errors import ConfigurationError
from ._history import History
from ._tenancy import check_tenant
from .storage._base import Store
from .typing import BlobStore, ChannelAdapter

__all__ = ["open"]


def open(
    target: str | Path | Store = "omnicx.db",
    *,
    schema: str | None = None,
    channels: Iterable[ChannelAdapter] = (),
    key: bytes | str | None = None,
    default_region: str | None = None,
    create: bool = True,
    blobs: BlobStore | str | Path | None = None,
    tenant: str | None = None,
    **options: Any,
) -> History:
    """Open (creating and migrating as needed) a contact history.

    ``target`` is a SQLite file path, ``":memory:"``, a ``postgresql://`` URL
    (needs ``pip install omnicx[postgres]``; ``schema`` puts the tables in a
    schema of that database), or any `omnicx.storage.Store`. ``channels``
    registers adapters up front so `History.replay` can find them. ``key``
    (32 bytes, or their base64 or hex; default: the ``OMNICX_KEY`` environment
    variable) turns on encryption at rest; without one, omnicx logs once, when
    it first writes content, that it stores it in the clear.
    ``default_region`` (``"CH"``) reads national phone numbers such as
    ``079 123 45 67`` wherever an address comes in: `Contacts.find`, `send`,
    and the adapters' parsing during `receive`. ``create=False`` opens only a
    history that exists (a SQLite file, a PostgreSQL schema with omnicx's
    tables) and raises `NotFoundError` otherwise: a mistyped path or schema
    is then an error, not a new empty history. ``blobs`` is where attachment
    bytes go (a `BlobStore` or a directory; by default a directory beside a
    SQLite file, ``history.db`` -> ``history.blobs``, memory for
    ``":memory:"``, and none, so metadata only, for PostgreSQL and other
    stores). Other
    ``options`` go to the store (e.g. ``synchronous="NORMAL"`` for SQLite).
    ``tenant`` scopes the history to one tenant of the store (a company or
    brand; ``None``: the default tenant): histories of different tenants on
    one store see disjoint data, and a tenant's default blob directory is its
    own (``history.db.tenants/brand-a.blobs``; ``docs/tenancy.md``).
    """
    tenant = check_tenant(tenant)
    blob_store = FileBlobStore(blobs) if isinstance(blobs, (str, Path)) else blobs
    if not isinstance(target, (str, Path)):
        return History(target, channels=channels, key=key, default_region=default_region,
                       blobs=blob_store, tenant=tenant)
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from .storage._postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                "PostgreSQL needs the postgres extra: pip install 'omnicx[postgres]'"
            ) from exc
        return History(PostgresStore(text, schema=schema or "omnicx", create=create,
                                     tenant=tenant, **options),
                       channels=channels, key=key, default_region=default_region,
                       blobs=blob_store)
    if schema is not None:
        raise ConfigurationError("schema= applies to PostgreSQL only")
    from .storage._sqlite import SQLiteStore

    # Before a blob directory is named; a tenant's lives beside its own database.
    store = SQLiteStore(text, create=create, tenant=tenant, **options)
    if blob_store is None:
        blob_store = (MemoryBlobStore() if text == ":memory:"
                      else FileBlobStore(Path(store.path).with_suffix(".blobs")))
    return History(store, channels=channels, key=key, default_region=default_region,
                   blobs=blob_store)
