"""Storage backends and the protocol they implement.

- `SQLiteStore`: the embedded default (``omnicx.open("history.db")``).
- `Store`, `Transaction`: the protocol; see ``docs/storage.md`` to write your
  own backend and prove it with `omnicx.testing`.
"""

from __future__ import annotations

from ._base import (
    AddressOwner,
    Capabilities,
    EventRecord,
    Gap,
    InteractionRef,
    RawPayload,
    Store,
    TimelineQuery,
    Transaction,
)
from ._sqlite import SQLiteStore

__all__ = [
    "AddressOwner",
    "Capabilities",
    "EventRecord",
    "Gap",
    "InteractionRef",
    "RawPayload",
    "SQLiteStore",
    "Store",
    "TimelineQuery",
    "Transaction",
]
