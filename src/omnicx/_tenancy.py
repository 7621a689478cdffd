"""Tenancy: one store serving several companies or brands that never see each other.

A tenant is a namespace of its own inside a store: a PostgreSQL schema of
the same database (``omnicx`` → ``omnicx__brand-a``), a SQLite file beside
the main one (``history.db`` → ``history.db.tenants/brand-a.db``), a table
set of its own in a `MemoryStore`. Every table lives once per tenant:
addresses, contacts, merges, interactions, conversations, gaps, the raw
archive, resume cursors and the settings that hold the wrapped index and
archive keys. So identity resolution, merges, timelines, contact listing,
KPIs, erasure, export and verify cannot cross a tenant: no statement can
forget a ``WHERE tenant = ?`` that does not exist, and what other modules add
to the schema (a change feed, search indexes, webhook subscriptions) is
per tenant without knowing about tenants at all.

Why namespaces rather than a ``tenant`` column in every table:

- isolation by construction instead of by discipline in some hundred
  statements on three backends;
- a single-tenant user (the default tenant, ``None``) pays nothing, and an
  existing database needs no migration: its tables *are* the default tenant;
- each tenant has its own index key, so the blind index of an address
  (`omnicx._crypto.Keyring.blind`) differs between tenants even under one
  master key: who is a customer of both brands cannot be read from the
  ciphertexts.

The price: contact and interaction ids are per tenant (contact #7 of
``brand-a`` and #7 of ``brand-b`` are different people), and a store with
thousands of tenants holds thousands of table sets. Contacts therefore carry
their tenant (``Contact.tenant``), and a history refuses a `Contact` of
another tenant with `TenantError` instead of acting on its own contact with
the same id.

Stores that can host tenants implement `TenantStore` (``tenant`` and
``for_tenant``); every store omnicx ships does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import attrs

from ._errors import ConfigurationError, TenantError
from ._models import Contact
from .storage._base import Store, Transaction

__all__ = [
    "TenantScope",
    "TenantStore",
    "check_contact",
    "check_tenant",
    "close_tenants",
    "scoped_store",
    "store_for",
    "tenant_registry",
]

T = TypeVar("T")
S = TypeVar("S")

# Lower-case letters, digits, "-" and "_", starting and ending with a letter or
# digit: safe as a file name on every OS and inside a PostgreSQL identifier.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
_REGISTRY_LOCK = threading.Lock()  # two threads asking for a new tenant open it once


def check_tenant(tenant: str | None) -> str | None:
    """Return ``tenant`` if it is a valid tenant name (or ``None``, the default tenant)."""
    if tenant is None:
        return None
    if not isinstance(tenant, str) or not _NAME.fullmatch(tenant):
        raise ConfigurationError(
            f"not a tenant name: {tenant!r} (1-40 of a-z, 0-9, '-', '_'; starting and"
            " ending with a letter or digit)")
    return tenant


@runtime_checkable
class TenantStore(Store, Protocol):
    """A store that can host tenants.

    ``tenant`` is the tenant whose data this store object reads and writes
    (``None``: the default tenant). ``for_tenant(name)`` returns the store of
    another tenant of the same database; it shares the lifetime of the
    store it was asked of (closing that closes it too).
    """

    tenant: str | None

    def for_tenant(self, tenant: str | None) -> Store: ...


def tenant_registry(root: S) -> dict[str | None, S]:
    """The shared map tenant → store a root store and its tenant stores keep."""
    return {None: root}


def scoped_store(registry: dict[str | None, S], tenant: str | None, make: Callable[[str], S],
                 is_open: Callable[[S], bool]) -> S:
    """The store of ``tenant`` from ``registry``, made (and remembered) when missing or closed.

    Shared by the backends' ``for_tenant``: ``make(tenant)`` opens a store of
    the same database for that tenant, which then shares ``registry``.
    """
    name = check_tenant(tenant)
    with _REGISTRY_LOCK:
        found = registry.get(name)
        if found is not None and is_open(found):
            return found
        if name is None:
            raise ConfigurationError("the default tenant's store is closed")
        made = registry[name] = make(name)
        return made


def close_tenants(registry: dict[str | None, S], close: Callable[[S], None]) -> None:
    """Close every tenant store of ``registry`` (when its root store closes)."""
    with _REGISTRY_LOCK:
        stores = [store for name, store in registry.items() if name is not None]
        registry.clear()
    for store in stores:
        close(store)


def store_for(store: Store, tenant: str | None) -> Store:
    """``store`` itself when it serves ``tenant``, else its sibling for ``tenant``.

    A store without tenancy (a custom backend without ``for_tenant``) serves
    the default tenant only.
    """
    name = check_tenant(tenant)
    if getattr(store, "tenant", None) == name:
        return store
    if not isinstance(store, TenantStore):
        raise ConfigurationError(
            f"{type(store).__name__} cannot host tenants (it has no for_tenant());"
            " see docs/tenancy.md")
    return store.for_tenant(name)


def check_contact(contact: Any, tenant: str | None) -> None:
    """Refuse a `Contact` read from another tenant (ids are per tenant, see above)."""
    if isinstance(contact, Contact) and contact.tenant != tenant:
        raise TenantError(
            f"contact #{contact.id} belongs to tenant {contact.tenant or 'default'!r},"
            f" not to {tenant or 'default'!r}: contacts, merges and messages never cross"
            " a tenant")


class TenantScope:
    """A tenant's store as a `History` uses it: contacts it returns carry the tenant.

    Only the two reads that build `Contact` values are touched; every other
    method and attribute is the wrapped store's (and transaction's). Used
    for named tenants only: the default tenant's contacts have ``tenant=None``
    already, so a single-tenant history does not pay for this wrapper.
    """

    def __init__(self, inner: Store, tenant: str) -> None:
        self.inner = inner
        self.tenant = tenant
        self.capabilities = inner.capabilities

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        return self.inner.atomic(lambda tx: work(self._scoped(tx)))

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Transaction]:
        with self.inner.reading(snapshot=snapshot) as tx:
            yield self._scoped(tx)

    def _scoped(self, tx: Transaction) -> Transaction:
        # Delegation through ``__getattr__``, which a static checker cannot see.
        return cast(Transaction, _TenantTransaction(tx, self.tenant))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _TenantTransaction:
    def __init__(self, inner: Transaction, tenant: str) -> None:
        self._inner = inner
        self._tenant = tenant

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def contact(self, contact_id: int) -> Contact | None:
        found = self._inner.contact(contact_id)
        return None if found is None else attrs.evolve(found, tenant=self._tenant)

    def contacts(self, *args: Any, **kwargs: Any) -> Iterator[Contact]:
        # Forwarded as given: the stamp must not depend on the protocol's arguments.
        for found in self._inner.contacts(*args, **kwargs):
            yield attrs.evolve(found, tenant=self._tenant)
