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

from .._errors import ConflictError, NotFoundError, StorageError
from .._tenancy import check_tenant, close_tenants, scoped_store, tenant_registry
from ._base import Capabilities, Transaction
from ._fulltext import SQLITE_DDL, SqliteFullText
from ._schema import MIGRATIONS
from ._sql import SqlTransaction, rank_sql

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_TYPES = {"pk": "INTEGER PRIMARY KEY", "int": "INTEGER", "blob": "BLOB",
          "search_index": SQLITE_DDL}


# `Transaction.chain_inputs`: SQLite's json_array writes exactly the compact JSON of
# `omnicx._chain` (same escapes, raw UTF-8, integers as digits), so the database can
# build every record's hashed bytes itself, in C, and hand over seven short values
# instead of thirty columns for Python to encode. The checks of `verify_contact` that
# are not hashes are made here, row by row, exactly as it makes them: a record that
# fails one gets a NULL digest, which no hash equals; a record with no content to
# check (an erasure, erased content) gets b"" and the digest of b"".
_EMPTY = "X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'"
# The status checks of `omnicx._chain.status_explained`, split so that no record
# needs a lookup in the common case: an interaction's status is its first one
# or a chained one that outranks the first (looked up only then), and no chained
# status event outranks its interaction's status (checked on the event's row).
_STATUS_OK = f"""coalesce(status_rank = {rank_sql("status")} AND (origin_status IS NULL
    OR coalesce(status, '') = origin_status OR (status_rank > {rank_sql("origin_status")}
    AND EXISTS (SELECT 1 FROM events c WHERE c.interaction_id = interactions.id
        AND c.kind = 'status' AND c.hash IS NOT NULL AND c.status = interactions.status))),
    FALSE)"""
_PLAINTEXT = ("coalesce(sender_value, sender_name, recipients, subject, text, html,"
              " attachments, data)")
_CHAIN_INPUTS = f"""
SELECT contact_id, iif(typeof(chain_seq) = 'integer', chain_seq, -1), prev_hash, hash,
    coalesce(CAST(prev_hash || 'ocx1' || CASE WHEN origin_status IS NULL THEN json_array('i',
        id, contact_id, conversation_id, channel, account, coalesce(origin_id, external_id),
        direction, kind, message_type, occurred_at, received_at, reply_to, raw_id, chain_seq,
        lower(hex(digest))) ELSE json_array('i', id, contact_id, conversation_id, channel,
        account, coalesce(origin_id, external_id), direction, kind, message_type, occurred_at,
        received_at, reply_to, raw_id, chain_seq, lower(hex(digest)), origin_status) END
        AS BLOB), X''),
    CASE WHEN erased_at IS NULL THEN coalesce(CAST(sealed AS BLOB), CAST(json_array(sender_kind,
        sender_value, sender_name, recipients, subject, text, html, attachments, data)
        AS BLOB)) ELSE X'' END,
    CASE
        WHEN prev_hash IS NULL OR digest IS NULL THEN NULL
        -- a status no chained record explains; plaintext beside sealed content
        WHEN NOT {_STATUS_OK} THEN NULL
        WHEN sealed IS NOT NULL AND {_PLAINTEXT} IS NOT NULL THEN NULL
        -- a provider id replaced the original: a chained event must carry it
        WHEN origin_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events c
            WHERE c.interaction_id = interactions.id AND c.hash IS NOT NULL
            AND c.external_id = interactions.external_id) THEN NULL
        WHEN erased_at IS NULL THEN digest
        -- erased content: a chained erasure of this contact must cover it
        WHEN EXISTS (SELECT 1 FROM erasures x WHERE x.contact_id = interactions.contact_id
            AND (x.erased_before IS NULL OR interactions.occurred_at < x.erased_before))
            THEN {_EMPTY}
    END
FROM interactions WHERE contact_id IN ({{marks}})
UNION ALL
SELECT i.contact_id, iif(typeof(e.chain_seq) = 'integer', e.chain_seq, -1),
    e.prev_hash, e.hash,
    coalesce(CAST(e.prev_hash || 'ocx1' || json_array('e', e.id, e.interaction_id, e.channel,
        e.account, e.external_id, e.event_id, e.kind, e.status, e.occurred_at, e.received_at,
        e.error, e.raw_id, e.chain_seq, lower(hex(e.digest))) AS BLOB), X''),
    CASE WHEN e.erased_at IS NULL THEN coalesce(CAST(e.sealed AS BLOB),
        CAST(coalesce(e.data, '') AS BLOB))
        ELSE X'' END,
    CASE
        WHEN e.prev_hash IS NULL OR e.hash IS NULL OR e.digest IS NULL THEN NULL
        -- a chained status its interaction's status does not reach
        WHEN e.kind = 'status' AND NOT coalesce({rank_sql("e.status")} <= i.status_rank, FALSE)
            THEN NULL
        WHEN e.erased_at IS NULL THEN e.digest
        -- erased event data: its interaction must be erased too
        WHEN i.erased_at IS NOT NULL AND i.digest IS NOT NULL THEN {_EMPTY}
    END
FROM events e JOIN interactions i ON i.id = e.interaction_id WHERE i.contact_id IN ({{marks}})
UNION ALL
SELECT contact_id, iif(typeof(chain_seq) = 'integer', chain_seq, -1), prev_hash, hash,
    coalesce(CAST(prev_hash || 'ocx1' || json_array('x', id, contact_id, erased_at,
        erased_before, reason, chain_seq) AS BLOB), X''),
    X'', CASE WHEN prev_hash IS NOT NULL THEN {_EMPTY} END
FROM erasures WHERE contact_id IN ({{marks}})
"""
_CHAIN_INPUT_ROWS = 4096  # per chunk: bounded memory whatever the message size


def _chain_inputs(cursor: Any, contact_ids: Sequence[int]
                  ) -> Iterator[Sequence[Sequence[Any]]]:
    ids = list(contact_ids)
    statement = _CHAIN_INPUTS.format(marks=", ".join("?" * len(ids)))
    # A cursor of its own: the caller may run other statements between chunks.
    rows = cursor.connection.cursor()
    try:
        rows.execute(statement, ids * 3)
        while chunk := rows.fetchmany(_CHAIN_INPUT_ROWS):
            yield chunk
    except sqlite3.Error as exc:  # e.g. a BLOB written into a text column: no JSON for it
        raise StorageError(f"SQLite cannot encode the chain: {exc}") from exc
    finally:
        rows.close()  # also when the caller stops early: no statement left pending


def _holds_history(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'omnicx_meta'").fetchone() is not None


class _SQLiteDialect:
    """Ids come from ``max(id) + 1``, remembered between transactions.

    The memory is valid while no other connection has committed, which
    ``PRAGMA data_version`` tells for free; otherwise it is dropped.
    """

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._data_version: int | None = None
        self.fulltext = SqliteFullText()

    def sql(self, statement: str) -> str:
        return statement

    def begin(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            self._next.clear()
            self._data_version = version

    # Never used: ``BEGIN IMMEDIATE`` makes a write the only writer, so SQLite's
    # transactions are not `locking` (see `SqlTransaction`).
    def lock_keys(self, cursor: Any, keys: Sequence[str], *, coarse: bool) -> None:
        """Nothing to lock."""

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

    def chain_inputs(self, cursor: Any, contact_ids: Sequence[int]
                     ) -> Iterator[Sequence[Sequence[Any]]] | None:
        return _chain_inputs(cursor, contact_ids)

    def new_ids(self, cursor: Any, table: str, count: int) -> Sequence[int]:
        start = self._next.get(table)
        if start is None:
            (start,) = cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()
        self._next[table] = start + count
        return range(start, start + count)


def _transient(exc: sqlite3.Error) -> bool:
    """Whether another writer holds the lock: `SQLiteStore.atomic` tries again."""
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in message or "busy" in message
    )


# Result codes that are not the data's fault (the file, the disk, memory, a lock):
# the same write may succeed later. Every other failure (SQLITE_TOOBIG, _CONSTRAINT,
# _MISMATCH, _RANGE, a value the driver cannot bind, ...) refuses the data itself,
# on every retry. Extended result codes carry the primary code in their low byte.
_ENVIRONMENT = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOLFS, sqlite3.SQLITE_AUTH,
    sqlite3.SQLITE_NOTADB,
})


def storage_error(exc: sqlite3.Error) -> StorageError:
    """``exc`` as a `StorageError`, ``transient`` unless SQLite refused the data."""
    code = getattr(exc, "sqlite_errorcode", None)
    transient = code is not None and code & 0xFF in _ENVIRONMENT
    return StorageError(f"SQLite failed: {exc}", transient=transient)


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
        create: bool = True,
        tenant: str | None = None,
    ) -> None:
        self.tenant = check_tenant(tenant)
        self._tenants: dict[str | None, SQLiteStore] = tenant_registry(self)
        self._options = (synchronous, busy_timeout, retry_for)
        self.root_path = str(path)
        self.path = tenant_path(self.root_path, self.tenant, create=create)
        memory = self.path == ":memory:"
        if not (create or memory or Path(self.path).is_file()):
            raise NotFoundError(f"no history at {self.path}: the file does not exist")
        self.capabilities = Capabilities(
            durable=not memory, multi_process=not memory, concurrent_writers=False
        )
        self._retry_for = retry_for
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout)
            if not (create or memory or _holds_history(conn)):  # read before writing a byte
                conn.close()
                raise NotFoundError(f"no history at {self.path}: the file holds no omnicx tables")
            self._db = sqlite_utils.Database(conn)
            if not memory:
                self._db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Erasure nulls content: overwrite the freed bytes instead of leaving
            # them in free pages (docs/privacy.md).
            conn.execute("PRAGMA secure_delete = ON")
            self._conn = conn
            self._open = True
            self._dialect = _SQLiteDialect()
            self.atomic(self._migrate)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path!r}: {exc}") from exc

    def for_tenant(self, tenant: str | None) -> SQLiteStore:
        """The store of ``tenant`` (``None``: the default) beside this database: the file
        ``<path>.tenants/<tenant>.db`` (a database of its own in memory); docs/tenancy.md."""
        return scoped_store(self._tenants, tenant, self._sibling, lambda s: s._open)

    def _sibling(self, tenant: str) -> SQLiteStore:
        synchronous, busy_timeout, retry_for = self._options
        sibling = SQLiteStore(self.root_path, synchronous=synchronous, busy_timeout=busy_timeout,
                              retry_for=retry_for, tenant=tenant)
        sibling._tenants = self._tenants
        return sibling

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
                    raise storage_error(exc) from exc
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
            result = work(SqlTransaction(conn.cursor(), self._dialect))
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

    def purge(self) -> None:
        """Checkpoint and truncate the write-ahead log, which still holds the pages an
        erasure overwrote (with ``secure_delete`` the main file does not)."""
        if self.path == ":memory:":
            return
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite failed to checkpoint: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._open = False
            self._conn.close()
        if self.tenant is None:
            close_tenants(self._tenants, SQLiteStore.close)


def tenant_path(path: str, tenant: str | None, *, create: bool = True) -> str:
    """Where the SQLite database of ``tenant`` lives for the main database ``path``
    (its folder made when ``create``)."""
    if tenant is None or path == ":memory:":
        return path
    folder = Path(path + ".tenants")
    if not create:
        return str(folder / f"{tenant}.db")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the tenants' folder {folder}: {exc}") from exc
    return str(folder / f"{tenant}.db")
