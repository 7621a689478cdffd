"""Storage backends and the protocol they implement.

- `SQLiteStore`: the embedded default (``omnicx.open("history.db")``).
- `MemoryStore`: everything in this process's memory, for tests and demos.
- `PostgresStore`: PostgreSQL through psycopg 3 (``pip install 'omnicx[postgres]'``);
  imported on first use, so omnicx works without psycopg installed.
- `Store`, `Transaction`: the protocol; see ``docs/storage.md`` to write your
  own backend and prove it with `omnicx.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import (
    AddressOwner,
    Capabilities,
    ChainRows,
    EventRecord,
    Gap,
    InteractionRef,
    RawPayload,
    RowSeal,
    SearchQuery,
    Store,
    TimelineQuery,
    Transaction,
)
from ._memory import MemoryStore
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._postgres import PostgresStore

__all__ = [
    "AddressOwner",
    "Capabilities",
    "ChainRows",
    "EventRecord",
    "Gap",
    "InteractionRef",
    "MemoryStore",
    "PostgresStore",
    "RawPayload",
    "RowSeal",
    "SQLiteStore",
    "SearchQuery",
    "Store",
    "TimelineQuery",
    "Transaction",
]


def __getattr__(name: str) -> Any:
    # psycopg is an optional extra: import the PostgreSQL backend on first use.
    if name == "PostgresStore":
        try:
            from ._postgres import PostgresStore
        except ImportError as exc:
            from .._errors import ConfigurationError

            raise ConfigurationError(
                "PostgreSQL needs the postgres extra: pip install 'omnicx[postgres]'"
            ) from exc
        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
