"""The embedded default: a SQLite file (or ``:memory:``) through sqlite-utils.

- WAL journal, ``synchronous=FULL`` by default: `History.receive` returns
  only after the commit is on disk ("durable before acknowledged").
- Writes take the lock up front (``BEGIN IMMEDIATE``), so a transaction
  never fails half-way on a lock upgrade; a lock held by another process
  past the busy timeout is retried with backoff inside `atomic`, and only
  after ``retry_for`` seconds surfaces as `ConflictError`.
- New ids are ``max(id) + 1`` read once per table per transaction: the
  write lock makes that safe, and it lets whole batches use ``executemany``.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from .._errors import ConflictError, StorageError
from ._base import Capabilities, Transaction
from ._schema import MIGRATIONS
from ._sql import SqlTransaction

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_TYPES = {"pk": "INTEGER PRIMARY KEY", "int": "INTEGER", "blob": "BLOB"}


class _SQLiteDialect:
    """Ids come from ``max(id) + 1``, remembered between transactions.

    The memory is valid while no other connection has committed, which
    ``PRAGMA data_version`` tells for free; otherwise it is dropped.
    """

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._data_version: int | None = None

    def sql(self, statement: str) -> str:
        return statement

    def begin(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            self._next.clear()
            self._data_version = version

    def lock_keys(self, cursor: Any, keys: Sequence[str]) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` made this the only writer."""

    @property
    def for_update(self) -> str:
        return ""

    def keyed(self, table: str, columns: str, match: tuple[str, Sequence[Any]], key: str,
              values: Sequence[str]) -> tuple[str, list[Any]]:
        # SQLite probes the unique index once per value of an IN list.
        condition, params = match
        return (f"(SELECT {columns} FROM {table} WHERE {condition}"
                f" AND {key} IN ({', '.join('?' * len(values))})) AS found",
                [*params, *values])

    @property
    def limit_each_branch(self) -> bool:
        return False

    def forget(self) -> None:
        self._next.clear()

    def new_ids(self, cursor: Any, table: str, count: int) -> Sequence[int]:
        start = self._next.get(table)
        if start is None:
            (start,) = cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()
        self._next[table] = start + count
        return range(start, start + count)


def _transient(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in message or "busy" in message
    )


class SQLiteStore:
    """A `Store` in one SQLite database file, or in memory for ``":memory:"``.

    One connection is shared by the threads of a process (guarded by a lock:
    SQLite serialises writers anyway); processes coordinate through the
    file's locks.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        retry_for: float = 30.0,
    ) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        self.capabilities = Capabilities(
            durable=not memory, multi_process=not memory, concurrent_writers=False
        )
        self._retry_for = retry_for
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout)
            self._db = sqlite_utils.Database(conn)
            if not memory:
                self._db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Erasure nulls content: overwrite the freed bytes instead of leaving
            # them in free pages (docs/privacy.md).
            conn.execute("PRAGMA secure_delete = ON")
            self._conn = conn
            self._dialect = _SQLiteDialect()
            self.atomic(self._migrate)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path!r}: {exc}") from exc

    @property
    def db(self) -> sqlite_utils.Database:
        """The underlying `sqlite_utils.Database`, for reports and ad-hoc reads."""
        return self._db

    # -- schema -----------------------------------------------------------------------
    def _migrate(self, _: Transaction) -> None:
        conn = self._conn
        if self._db["omnicx_meta"].exists():
            row = conn.execute(
                "SELECT value FROM omnicx_meta WHERE key = 'schema_version'").fetchone()
            current = int(row[0]) if row else 0
        else:
            current = 0
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement.format(**_TYPES))
            conn.execute(
                "INSERT INTO omnicx_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(version),))

    def schema_version(self) -> int:
        row = self._conn.execute(
            "SELECT value FROM omnicx_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    # -- transactions ------------------------------------------------------------------------
    def atomic(self, work: Callable[[Transaction], T]) -> T:
        deadline = time.monotonic() + self._retry_for
        delay = 0.005
        while True:
            try:
                with self._lock:
                    return self._run(work)
            except sqlite3.Error as exc:
                if not _transient(exc):
                    raise StorageError(f"SQLite failed: {exc}") from exc
                if time.monotonic() > deadline:
                    raise ConflictError(f"database stayed locked: {exc}") from exc
            except ConflictError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)

    def _run(self, work: Callable[[Transaction], T]) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._dialect.begin(conn)
            result = work(SqlTransaction(conn.cursor(), self._dialect, writing=True))
            conn.execute("COMMIT")
        except BaseException:
            self._dialect.forget()  # ids drawn in a rolled-back transaction are free again
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Transaction]:
        with self._lock:
            conn = self._conn
            try:
                if snapshot:  # otherwise each statement is its own read transaction
                    conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite failed: {exc}") from exc
            try:
                yield SqlTransaction(conn.cursor(), self._dialect)
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite failed: {exc}") from exc
            finally:
                if snapshot:
                    conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
