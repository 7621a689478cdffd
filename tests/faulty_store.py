"""A `Store` wrapper that fails on purpose, for tests of what a failure may take with it.

It delegates everything to a real backend and injects `StorageError` where a
real database fails: inserting a given external id (a row the store refuses,
every time), every write (the database is down), or reads (readiness). It
also counts write transactions, so a test can see that requests shared one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from omnicx import StorageError
from omnicx.storage import Store, Transaction


class FaultyTransaction:
    def __init__(self, inner: Transaction, store: FaultyStore) -> None:
        self._inner = inner
        self._store = store

    def insert_interactions(self, rows: Any, *args: Any, **kwargs: Any) -> Any:
        rows = list(rows)
        poisoned = {r.external_id for r in rows} & self._store.refuse
        if poisoned:
            raise StorageError(f"the database refused {sorted(poisoned)}")
        return self._inner.insert_interactions(rows, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FaultyStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.refuse: set[str] = set()  # external ids whose insert always fails
        self.down = False  # every write transaction fails
        self.unreadable = False  # every read fails
        self.transactions = 0  # write transactions committed

    def atomic(self, work: Callable[[Transaction], Any]) -> Any:
        if self.down:
            raise StorageError("the database is down")
        result = self.inner.atomic(lambda tx: work(FaultyTransaction(tx, self)))  # type: ignore[arg-type]
        self.transactions += 1
        return result

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Transaction]:
        if self.unreadable:
            raise StorageError("the database does not answer")
        with self.inner.reading(snapshot=snapshot) as tx:
            yield tx

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
