"""The `Transaction` protocol in portable SQL, for every DB-API backend.

Statements are written once with ``?`` placeholders; a `Dialect` rewrites
them for its driver and supplies the few things that differ (how new ids are
drawn, the column types in the schema). SQLite and PostgreSQL both support
``ON CONFLICT DO NOTHING`` and ``RETURNING``, which carry the invariants.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from .._chain import content_columns, origin_status
from .._chain import dumps as _dumps
from .._enums import AddressKind, Channel, Direction, Kind, Status, status_rank
from .._errors import ConflictError, TamperedError
from .._models import Address, Attachment, Contact, Conversation, Interaction, InteractionTwin
from ._base import (
    ActivityRow,
    AddressOwner,
    ChainRows,
    EventRecord,
    Gap,
    InteractionRef,
    RawPayload,
    RowSeal,
    TimelineQuery,
)
from ._feedsql import FeedSql
from ._fulltext import FullText, SearchQuery

_json_loads: Callable[[str], Any] = json.loads
try:  # the `fast` extra; rows are our own compact JSON, which both decode alike
    import orjson

    _json_loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    pass

__all__ = ["FINE_LOCKS", "Dialect", "SqlTransaction", "blob", "clear_row_caches", "from_us",
           "rank_sql", "to_us"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHUNK = 500  # rows per IN (...) list: far below every backend's parameter limit
# Names a write transaction locks one by one before it switches to buckets of
# names (`Dialect.lock_keys`). A batch of 500 payloads (about 1,000 names:
# its external ids and its contacts' threads) stays below, so that writers of
# such batches, partitioned by contact, never wait for each other (with 512,
# four of them on PostgreSQL fell from 4,800 to 570 payloads a second, taking
# turns on buckets); a webhook of 100,000 events goes past it.
FINE_LOCKS = 2048


def to_us(value: dt.datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch (the stored form)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# From 1970 until 2112 (2**52 microseconds) a float holds every microsecond
# exactly and `fromtimestamp` rounds back to it: a third of the cost of adding
# a timedelta, once per timestamp of every row read. (Before 1970 Windows'
# fromtimestamp fails, and past 2112 the float loses microseconds.)
_EXACT_US = 2**52
_fromtimestamp = dt.datetime.fromtimestamp


def from_us(value: int) -> dt.datetime:
    """Stored microseconds -> aware UTC datetime."""
    if 0 <= value < _EXACT_US:
        return _fromtimestamp(value / 1e6, dt.UTC)
    return _EPOCH + dt.timedelta(microseconds=value)


# Receive times repeat (a whole batch shares one), so their conversions are shared.
_received_at = lru_cache(maxsize=1024)(from_us)


def _opt_us(value: dt.datetime | None) -> int | None:
    return None if value is None else to_us(value)


class Dialect(Protocol):
    """What differs between SQL backends."""

    def sql(self, statement: str) -> str:
        """Rewrite a statement written with ``?`` placeholders for this driver."""
        ...

    def new_ids(self, cursor: Any, table: str, count: int) -> Sequence[int]:
        """Draw ``count`` unused ids for ``table`` inside the current transaction."""
        ...

    def chain_inputs(self, cursor: Any, contact_ids: Sequence[int]
                     ) -> Iterator[Sequence[Sequence[Any]]] | None:
        """`Transaction.chain_inputs` in this database's SQL, or ``None``."""
        ...

    def lock_keys(self, cursor: Any, keys: Sequence[str], *, coarse: bool) -> None:
        """Hold an exclusive lock on each of these names until the transaction ends.

        Called by write transactions before they read what the names stand
        for, always with the names sorted; a no-op where writers are
        serialised anyway. ``coarse`` asks for a bounded number of locks
        however many names there are (a transaction that has locked many
        names already, e.g. a webhook with 100,000 events): the dialect then
        locks a bucket of names per lock, in a way that still excludes any
        writer holding one of the names (see `omnicx.storage._postgres`).
        """
        ...

    @property
    def for_update(self) -> str:
        """Suffix that makes a write transaction's ``SELECT`` lock the rows it reads
        (``""`` where writers are serialised anyway)."""
        ...

    def keyed(self, table: str, columns: str, match: tuple[str, Sequence[Any]], key: str,
              values: Sequence[str]) -> tuple[str, list[Any]]:
        """A ``FROM`` item, named ``found``, with ``columns`` of the rows of
        ``table`` that satisfy ``match`` (a condition and its parameters) and
        whose unique ``key`` is one of ``values``; and the item's parameters.

        The lookups that decide a batch (is this message known? who owns this
        address?) take hundreds of keys at once; a dialect spells them so
        that the database probes the unique index once per key.
        """
        ...

    @property
    def fulltext(self) -> FullText:
        """The search index's statements (`omnicx.storage._fulltext`)."""
        ...

    @property
    def limit_each_branch(self) -> bool:
        """Whether each branch of a ``UNION ALL`` page needs its own ``ORDER BY ...
        LIMIT`` for the planner to read the index in order and stop early
        (PostgreSQL); SQLite merges plain branches lazily, and is slower with
        limited ones."""
        ...


_INTERACTION_COLUMNS = (
    "id, contact_id, conversation_id, channel, account, external_id, direction, kind,"
    " message_type, occurred_at, received_at, sender_kind, sender_value, sender_name,"
    " recipients, subject, text, html, attachments, reply_to, status, status_rank, data,"
    " raw_id, erased_at"
)
_INSERT_INTERACTION = (
    f"INSERT INTO interactions ({_INTERACTION_COLUMNS}, sealed, chain_seq, digest, hash,"
    f" prev_hash, origin_status) VALUES ({', '.join('?' * 31)})"
    " ON CONFLICT (channel, account, external_id) DO NOTHING"
)
_EVENT_COLUMNS = (
    "id, interaction_id, channel, account, external_id, event_id, kind, status,"
    " occurred_at, received_at, error, data, raw_id"
)
_EVENT_READ = f"{_EVENT_COLUMNS}, digest, sealed"
_GAP_COLUMNS = "id, kind, channel, account, reference, contact_id, opened_at, closed_at, detail"
# The shapes `ChainRows` documents.
_CHAIN_INTERACTION = (
    "id, contact_id, conversation_id, channel, account, coalesce(origin_id, external_id),"
    " direction, kind, message_type, occurred_at, received_at, reply_to, raw_id, chain_seq,"
    " digest, hash, prev_hash, erased_at, sealed, sender_kind, sender_value, sender_name,"
    " recipients, subject, text, html, attachments, data, external_id, origin_id,"
    " origin_status, status, status_rank"
)
_CHAIN_EVENT = (
    "e.id, e.interaction_id, e.channel, e.account, e.external_id, e.event_id, e.kind,"
    " e.status, e.occurred_at, e.received_at, e.error, e.raw_id, e.chain_seq, e.digest,"
    " e.hash, e.prev_hash, e.erased_at, e.sealed, e.data, i.contact_id"
)


def rank_sql(column: str) -> str:
    """`status_rank` of a status column, in SQL."""
    ranks = " ".join(f"WHEN '{s.value}' THEN {status_rank(s)}"
                     for s in Status if status_rank(s) >= 0)
    return f"CASE {column} {ranks} ELSE -1 END"


# `Transaction.tampered_cells`: a contact's cells that its chained erasures do not explain.
_TAMPERED_CELLS = """
SELECT 'contacts', c.id, c.id, NULL, 'erased_at' FROM contacts c
WHERE c.id IN ({marks}) AND CASE WHEN c.erased_at IS NULL THEN 0 ELSE 1 END
    <> CASE WHEN EXISTS (SELECT 1 FROM erasures x WHERE x.contact_id = c.id
        AND x.erased_before IS NULL) THEN 1 ELSE 0 END
UNION ALL
SELECT 'contacts', c.id, c.id, NULL, 'data_key' FROM contacts c
WHERE c.id IN ({marks}) AND c.data_key IS NULL AND c.erased_at IS NULL
    AND EXISTS (SELECT 1 FROM interactions s WHERE s.contact_id = c.id
        AND s.sealed IS NOT NULL AND s.erased_at IS NULL)
"""


def interaction_row(item: Interaction, seal: RowSeal) -> tuple[Any, ...]:
    """An `Interaction` and its `RowSeal` as the tuple `_INSERT_INTERACTION` expects.

    The content columns come from the seal: the ingest decided what is stored
    (plaintext, or nothing but the sender's kind when the content is sealed).
    """
    (sender_kind, sender_value, sender_name, recipients, subject, text, html, attachments,
     data) = seal.columns
    return (
        item.id,
        item.contact_id,
        item.conversation_id,
        str(item.channel),
        item.account,
        item.external_id,
        str(item.direction),
        str(item.kind),
        item.message_type,
        to_us(item.occurred_at),
        to_us(item.received_at),
        sender_kind,
        sender_value,
        sender_name,
        recipients,
        subject,
        text,
        html,
        attachments,
        item.reply_to,
        str(item.status) if item.status is not None else None,
        status_rank(item.status),
        data,
        item.raw_id,
        None,
        seal.sealed,
        seal.seq,
        seal.digest,
        seal.hash,
        seal.prev_hash,
        origin_status(item.status),
    )


# Rows come from our own writes, so their values are canonical already: the
# read path skips normalisation and shares the immutable pieces that repeat
# (a contact's address, a recipients list) instead of rebuilding them per row.
_CHANNELS: dict[str, Channel] = dict(Channel._value2member_map_)
_DIRECTIONS: dict[str, Direction] = dict(Direction._value2member_map_)
_KINDS: dict[str, Kind] = dict(Kind._value2member_map_)
_STATUSES: dict[str, Status] = dict(Status._value2member_map_)


@lru_cache(maxsize=8192)
def stored_address(kind: str, value: str, name: str | None) -> Address:
    """An `Address` from a row, without re-normalising its canonical value."""
    address = object.__new__(Address)
    object.__setattr__(address, "kind", AddressKind(kind))
    object.__setattr__(address, "value", value)
    object.__setattr__(address, "name", name)
    return address


@lru_cache(maxsize=4096)
def _recipients(text: str) -> tuple[Address, ...]:
    return tuple(stored_address(k, v, n) for k, v, n in json.loads(text))


@lru_cache(maxsize=4096)
def _attachments(text: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(**a) for a in json.loads(text))


def clear_row_caches() -> None:
    """Forget the addresses and attachment lists decoded rows share (after an erasure)."""
    stored_address.cache_clear()
    _recipients.cache_clear()
    _attachments.cache_clear()


# `interactions_from_rows` builds each `Interaction` without its ``__init__``
# (`omnicx._models.InteractionTwin`): a timeline page builds fifty per request.
_ROW_WIDTH = len(_INTERACTION_COLUMNS.split(","))


def interactions_from_rows(rows: Iterable[Sequence[Any]]) -> list[Interaction]:
    """The inverse of `interaction_row` (columns in `_INTERACTION_COLUMNS` order)."""
    # Everything the loop touches is a local: this runs once per row of every page.
    new, twin, cls = object.__new__, InteractionTwin, Interaction
    channels, directions, kinds, statuses = _CHANNELS, _DIRECTIONS, _KINDS, _STATUSES
    timestamp, received_at, address, recipients_of, attachments_of, loads = (
        from_us, _received_at, stored_address, _recipients, _attachments, _json_loads)
    items: list[Interaction] = []
    append = items.append
    iid: Any = "?"
    try:
        for (iid, contact_id, conversation_id, channel, account, external_id, direction, kind,
             message_type, occurred_at, received, sender_kind, sender_value, sender_name,
             recipients, subject, text, html, attachments, reply_to, status, _rank, data,
             raw_id, erased_at) in rows:
            item = new(twin)
            item.id = iid
            item.contact_id = contact_id
            item.conversation_id = conversation_id
            item.channel = channels.get(channel) or Channel(channel)
            item.account = account
            item.external_id = external_id
            item.direction = directions.get(direction) or Direction(direction)
            item.kind = kinds.get(kind) or Kind(kind)
            item.message_type = message_type
            item.occurred_at = timestamp(occurred_at)
            item.received_at = received_at(received)
            item.sender = (None if sender_value is None
                           else address(sender_kind, sender_value, sender_name))
            item.recipients = recipients_of(recipients) if recipients else ()
            item.subject = subject
            item.text = text
            item.html = html
            item.attachments = attachments_of(attachments) if attachments else ()
            item.reply_to = reply_to
            item.status = None if status is None else statuses.get(status) or Status(status)
            item.data = loads(data) if data else {}
            item.raw_id = raw_id
            item.erased = erased_at is not None
            item.__class__ = cls
            append(item)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        # A cell of a type or shape omnicx never writes: edited behind our back. The
        # message names the row, never the value (it may be personal data).
        raise TamperedError(f"interaction #{iid} holds a value omnicx never writes"
                            f" ({type(exc).__name__}); run verify()") from None
    return items


def interaction_from_row(row: Sequence[Any]) -> Interaction:
    """One row's `Interaction` (see `interactions_from_rows`); columns past the
    interaction's own, as in the memory store's rows, are ignored."""
    return interactions_from_rows((row[:_ROW_WIDTH],))[0]


def _event_from_row(row: Sequence[Any]) -> EventRecord:
    try:
        return _event_record(row)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise TamperedError(f"event #{row[0]} holds a value omnicx never writes"
                            f" ({type(exc).__name__}); run verify()") from None


def _event_record(row: Sequence[Any]) -> EventRecord:
    return EventRecord(
        id=row[0],
        interaction_id=row[1],
        channel=row[2],
        account=row[3],
        external_id=row[4],
        event_id=row[5],
        kind=row[6],
        status=row[7],
        occurred_at=from_us(row[8]),
        received_at=from_us(row[9]),
        error=row[10],
        data=json.loads(row[11]) if row[11] else {},
        raw_id=row[12],
        digest=None if row[13] is None else blob(row[13]),
        sealed=None if row[14] is None else blob(row[14]),
    )


def _gap_from_row(row: Sequence[Any]) -> Gap:
    return Gap(
        id=row[0],
        kind=row[1],
        channel=row[2],
        account=row[3],
        reference=row[4],
        contact_id=row[5],
        opened_at=from_us(row[6]),
        closed_at=from_us(row[7]) if row[7] is not None else None,
        detail=row[8],
    )


def _undecodable(exc: sqlite3.OperationalError) -> Exception:
    """SQLite's "Could not decode to UTF-8" (a text cell holding other bytes, which
    only an edit behind our back writes) as `TamperedError`: its message quotes the
    cell, which may be personal data. Any other error is returned as it was."""
    if "decode" in str(exc):
        return TamperedError("a stored text cell holds bytes that are not UTF-8 (written"
                             " behind omnicx's back); run verify()")
    return exc


def blob(value: Any) -> bytes:
    """A binary cell as bytes; text written there behind our back becomes its UTF-8
    (which no seal or hash accepts) instead of a `TypeError`."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


@lru_cache(maxsize=64)
def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _key(*parts: object) -> str:
    return "\x1f".join(str(p) for p in parts)


@lru_cache(maxsize=256)
def _timeline_sql(contacts: int, before: bool, since: bool, until: bool, channels: int,
                  limit_each_branch: bool) -> str:
    """A timeline page's statement; cached, as pages repeat a handful of shapes.

    ``contacts`` is how many contact ids the caller gives, or 0 when the
    statement resolves the merge group of one contact itself.
    """
    where = ""
    if before:
        # A row value, which the database reads as an index range; the
        # spelled-out OR would scan every newer row of the contact first.
        where += " AND (occurred_at, id) < (?, ?)"
    if since:
        where += " AND occurred_at >= ?"
    if until:
        where += " AND occurred_at < ?"
    if channels:
        where += f" AND channel IN ({_marks(channels)})"
    select = f"SELECT {_INTERACTION_COLUMNS} FROM interactions WHERE"
    order = " ORDER BY occurred_at DESC, id DESC LIMIT ?"
    if contacts:
        who = f"contact_id IN ({_marks(contacts)})" if contacts > 1 else "contact_id = ?"
        return f"{select} {who}{where}{order}"
    # One statement (one snapshot, one round trip) resolves the merge group
    # and reads the page: the root's rows come straight off the timeline
    # index in order, and the rows of contacts merged into it (usually none)
    # are merged in.
    root = "(SELECT coalesce(merged_into, id) FROM contacts WHERE id = ?)"
    own = f"{select} contact_id = {root}{where}"
    merged = f"{select} contact_id IN (SELECT id FROM contacts WHERE merged_into = {root}){where}"
    if limit_each_branch:
        # Each merged contact is read by a LATERAL page of its own, so no
        # planner estimate can turn the (usually empty) merged branch into a
        # scan of the table (it did: a parallel hash join costing 5-7 ms at
        # 1M rows). The root is looked up in each branch (two index probes
        # costing microseconds): a materialized CTE sharing it cost more
        # than the rest of the merged branch (0.08 ms a page at 1M rows).
        own = f"{select} contact_id = {root}{where}{order}"
        merged = (f"SELECT m.* FROM contacts g CROSS JOIN LATERAL ({select} contact_id = g.id"
                  f"{where}{order}) AS m WHERE g.merged_into = {root}"
                  " ORDER BY m.occurred_at DESC, m.id DESC LIMIT ?")
        return f"SELECT * FROM ({own}) AS own UNION ALL SELECT * FROM ({merged}) AS merged{order}"
    return f"{own} UNION ALL {merged}{order}"


class SqlTransaction(FeedSql):
    """`Transaction` over a DB-API cursor; one instance per transaction.

    ``locking`` marks a write transaction of a backend whose writers run in
    parallel (PostgreSQL at ``READ COMMITTED``; SQLite's ``BEGIN IMMEDIATE``
    serialises them, so it needs none of this). What such a write decides
    from a read is kept true until commit by locks the reads take first: a named lock per
    external id looked up (a message and a status racing for it, a reply and
    its parent), per (contact, channel, account) whose threads are looked up,
    per stream cursor; row locks on the contacts whose chain heads, data keys
    or merges are read. Uniqueness and forward-only status need no lock: the
    database enforces them in the statements that write.
    """

    def __init__(self, cursor: Any, dialect: Dialect, *, locking: bool = False) -> None:
        self._cursor = cursor
        self._dialect = dialect
        self._locking = locking
        self._named_locks = 0  # names locked one by one so far in this transaction

    def _lock(self, keys: Iterable[str]) -> None:
        if not self._locking:
            return
        names = sorted(set(keys))
        # Past FINE_LOCKS names a transaction locks buckets of names instead: a
        # lock per name would fill the server's shared lock table (a webhook
        # with ~12,000 events did, on every retry).
        coarse = self._named_locks + len(names) > FINE_LOCKS
        if not coarse:
            self._named_locks += len(names)
        self._dialect.lock_keys(self._cursor, names, coarse=coarse)

    def _for_update(self) -> str:
        return self._dialect.for_update if self._locking else ""

    # -- plumbing ----------------------------------------------------------------------
    def _execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._dialect.sql(statement), params)

    def _many(self, statement: str, rows: Sequence[Sequence[Any]]) -> int:
        if len(rows) == 1:  # execute() skips executemany's per-call set-up
            return int(self._cursor.execute(self._dialect.sql(statement), rows[0]).rowcount)
        self._cursor.executemany(self._dialect.sql(statement), rows)
        return int(self._cursor.rowcount)

    def _all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(self._execute(statement, params).fetchall())
        except sqlite3.OperationalError as exc:
            raise _undecodable(exc) from None

    def _one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._execute(statement, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise _undecodable(exc) from None

    # -- ids -----------------------------------------------------------------------------
    def new_ids(self, table: str, count: int) -> Sequence[int]:
        return self._dialect.new_ids(self._cursor, table, count)

    # -- raw archive ---------------------------------------------------------------------
    def archive(self, payloads: Sequence[RawPayload]) -> None:
        self._many(
            "INSERT INTO raw_payloads (id, channel, account, received_at, headers, body, state,"
            " error, sealed, contact_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (p.id, p.channel, p.account, to_us(p.received_at),
                 _dumps(dict(p.headers)), p.body if p.sealed is None else None, p.state,
                 p.error, p.sealed, p.contact_id)
                for p in payloads
            ],
        )

    def set_raw_state(self, raw_id: int, state: str, error: str | None) -> None:
        self._execute("UPDATE raw_payloads SET state = ?, error = ? WHERE id = ?",
                      (state, error, raw_id))

    def _raw_rows(self, where: str, params: Sequence[Any]) -> list[RawPayload]:
        rows = self._all(
            "SELECT id, channel, account, received_at, headers, body, state, error, sealed,"
            f" contact_id FROM raw_payloads WHERE {where} ORDER BY id", params)
        payloads = []
        for r in rows:
            try:
                payloads.append(RawPayload(
                    id=r[0], channel=r[1], account=r[2], received_at=from_us(r[3]),
                    headers=json.loads(r[4]) if r[4] else {}, body=blob(r[5] or b""),
                    state=r[6], error=r[7], sealed=None if r[8] is None else blob(r[8]),
                    contact_id=r[9]))
            except (TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise TamperedError(f"raw payload #{r[0]} holds a value omnicx never writes"
                                    f" ({type(exc).__name__})") from None
        return payloads

    def raw(self, raw_id: int) -> RawPayload | None:
        found = self._raw_rows("id = ?", (raw_id,))
        return found[0] if found else None

    def raws(self, state: str) -> list[RawPayload]:
        return self._raw_rows("state = ?", (state,))

    # -- contacts --------------------------------------------------------------------------
    def owners(self, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AddressOwner]:
        found: dict[tuple[str, str], AddressOwner] = {}
        for chunk in _chunks(list(dict.fromkeys(addresses))):
            by_kind: dict[str, list[str]] = {}
            for kind, value in chunk:
                by_kind.setdefault(kind, []).append(value)
            # One statement for every kind, a branch (and an index probe per
            # value) each; whether the owner's root has merged members comes
            # along, so that the ingest rarely needs `members`.
            branches, params = [], []
            for kind, values in by_kind.items():
                found_rows, found_params = self._dialect.keyed(
                    "addresses", "kind, value, contact_id", ("kind = ?", (kind,)), "value",
                    values)
                branches.append(
                    "SELECT found.kind, found.value, found.contact_id, c.merged_into,"
                    " c.display_name IS NOT NULL, EXISTS (SELECT 1 FROM contacts m"
                    " WHERE m.merged_into = coalesce(c.merged_into, c.id)), c.chain_head"
                    f" FROM {found_rows} JOIN contacts c ON c.id = found.contact_id")
                params += found_params
            # The chain head comes along, which saves the ingest a read, unless heads
            # must be read under a row lock (parallel writers: see `chain_heads`).
            known = not self._locking
            for kind, value, contact_id, merged_into, named, merged, head in self._all(
                    " UNION ALL ".join(branches), params):
                found[(kind, value)] = AddressOwner(
                    contact_id=contact_id, root_id=merged_into or contact_id,
                    named=bool(named), merged=bool(merged),
                    head=None if head is None else bytes(head), head_known=known)
        return found

    def insert_contacts(self, contacts: Sequence[Contact]) -> None:
        self._many(
            "INSERT INTO contacts (id, display_name, crm_id, created_at) VALUES (?, ?, ?, ?)",
            [(c.id, c.display_name, c.crm_id, to_us(c.created_at)) for c in contacts],
        )

    def insert_addresses(
        self, rows: Sequence[tuple[str, str, int, str | None]], at: dt.datetime
    ) -> int:
        stamp = to_us(at)
        return self._many(
            "INSERT INTO addresses (kind, value, contact_id, name, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING",
            [(kind, value, contact_id, name, stamp) for kind, value, contact_id, name in rows],
        )

    def set_display_name(self, contact_id: int, name: str) -> None:
        self._execute("UPDATE contacts SET display_name = ? WHERE id = ? AND display_name IS NULL",
                      (name, contact_id))

    def _contacts(self, where: str, params: Sequence[Any]) -> list[Contact]:
        rows = self._all(
            "SELECT id, display_name, crm_id, created_at, merged_into, erased_at"
            f" FROM contacts WHERE {where} ORDER BY id", params)
        if not rows:
            return []
        addresses: dict[int, list[Address]] = {}
        for chunk in _chunks([r[0] for r in rows]):
            for kind, value, name, contact_id in self._all(
                "SELECT kind, value, name, contact_id FROM addresses"
                f" WHERE contact_id IN ({_marks(len(chunk))}) ORDER BY created_at, kind, value",
                chunk,
            ):
                addresses.setdefault(contact_id, []).append(stored_address(kind, value, name))
        return [
            Contact(id=r[0], display_name=r[1], crm_id=r[2], created_at=from_us(r[3]),
                    merged_into=r[4], erased=r[5] is not None,
                    addresses=tuple(addresses.get(r[0], ())))
            for r in rows
        ]

    def contact(self, contact_id: int) -> Contact | None:
        found = self._contacts("id = ?", (contact_id,))
        return found[0] if found else None

    def contacts(self, after: int = 0) -> Iterator[Contact]:
        last = after
        while page := self._contacts_page(last):
            yield from page
            last = page[-1].id

    def _contacts_page(self, after: int) -> list[Contact]:
        ids = [r[0] for r in self._all(
            "SELECT id FROM contacts WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT 500",
            (after,))]
        if not ids:
            return []
        return self._contacts(f"id IN ({_marks(len(ids))})", ids)

    def group(self, contact_id: int) -> tuple[int, ...] | None:
        rows = self._all(
            "SELECT c.id, c.id = r.root FROM contacts c,"
            " (SELECT coalesce(merged_into, id) AS root FROM contacts WHERE id = ?) r"
            " WHERE c.id = r.root OR c.merged_into = r.root ORDER BY c.id", (contact_id,))
        if not rows:
            return None
        return tuple(cid for cid, is_root in rows if is_root) + tuple(
            cid for cid, is_root in rows if not is_root)

    def members(self, root_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        roots = list(dict.fromkeys(root_ids))
        merged: dict[int, list[int]] = {root: [] for root in roots}
        for chunk in _chunks(roots):
            for contact_id, root in self._all(
                f"SELECT id, merged_into FROM contacts WHERE merged_into IN"
                f" ({_marks(len(chunk))}) ORDER BY id", chunk):
                merged[root].append(contact_id)
        return {root: (root, *others) for root, others in merged.items()}

    def _roots(self, *contact_ids: int) -> dict[int, int | None]:
        """``merged_into`` of these contacts, their rows locked for the merge that follows."""
        return dict(self._all(
            f"SELECT id, merged_into FROM contacts WHERE id IN ({_marks(len(contact_ids))})"
            f" ORDER BY id{self._for_update()}", contact_ids))

    def merge(self, winner_id: int, loser_id: int, at: dt.datetime, reason: str | None) -> None:
        roots = self._roots(winner_id, loser_id)
        if roots.get(winner_id) is not None or roots.get(loser_id) is not None:
            # Decided on a root that a concurrent writer has merged since: re-run.
            raise ConflictError(f"contact #{winner_id} or #{loser_id} is no longer a root")
        (merge_id,) = self.new_ids("merges", 1)
        self._execute(
            "INSERT INTO merges (id, winner_id, loser_id, merged_at, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (merge_id, winner_id, loser_id, to_us(at), reason))
        # Keep merged_into pointing at the root, so a lookup is one join deep.
        self._execute("UPDATE contacts SET merged_into = ? WHERE merged_into = ?",
                      (winner_id, loser_id))
        self._execute("UPDATE contacts SET merged_into = ? WHERE id = ?", (winner_id, loser_id))

    def unmerge(self, winner_id: int, loser_id: int, at: dt.datetime) -> None:
        if self._roots(winner_id, loser_id).get(loser_id) != winner_id:
            raise ConflictError(f"contact #{loser_id} is no longer merged into #{winner_id}")
        self._execute(
            "UPDATE merges SET unmerged_at = ? WHERE winner_id = ? AND loser_id = ?"
            " AND unmerged_at IS NULL", (to_us(at), winner_id, loser_id))
        self._execute("UPDATE contacts SET merged_into = NULL WHERE id = ?", (loser_id,))
        # Contacts that had been merged into the loser go back with it.
        self._execute(
            "UPDATE contacts SET merged_into = ? WHERE merged_into = ? AND id IN"
            " (SELECT loser_id FROM merges WHERE winner_id = ? AND unmerged_at IS NULL)",
            (loser_id, winner_id, loser_id))

    def link_crm(self, contact_id: int, crm_id: str) -> None:
        self._execute("UPDATE contacts SET crm_id = ? WHERE id = ?", (crm_id, contact_id))

    def contact_by_crm(self, crm_id: str) -> int | None:
        row = self._one("SELECT id FROM contacts WHERE crm_id = ?", (crm_id,))
        return None if row is None else int(row[0])

    # -- conversations ---------------------------------------------------------------------
    def threads(
        self, contact_ids: Iterable[int], channel: str, account: str, thread_keys: Iterable[str]
    ) -> dict[tuple[int, str], tuple[int, dt.datetime]]:
        ids, keys = list(dict.fromkeys(contact_ids)), set(thread_keys)
        found: dict[tuple[int, str], tuple[int, dt.datetime]] = {}
        if not ids or not keys:
            return found
        self._lock(_key("thread", c, channel, account) for c in ids)
        # Filter keys here, not in SQL: two IN lists would make the database
        # probe the index for every (contact, key) pair.
        for chunk in _chunks(ids):
            for cid, contact_id, key, last in self._all(
                "SELECT id, contact_id, thread_key, last_activity_at FROM conversations"
                f" WHERE contact_id IN ({_marks(len(chunk))}) AND channel = ? AND account = ?"
                " AND thread_key IS NOT NULL", (*chunk, channel, account),
            ):
                if key not in keys:
                    continue
                at = from_us(last)
                best = found.get((contact_id, key))
                if best is None or (at, cid) > (best[1], best[0]):
                    found[(contact_id, key)] = (cid, at)
        return found

    def insert_conversations(self, conversations: Sequence[Conversation]) -> None:
        self._many(
            "INSERT INTO conversations (id, contact_id, channel, account, thread_key, subject,"
            " started_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.id, c.contact_id, str(c.channel), c.account, c.thread_key, c.subject,
              to_us(c.started_at), to_us(c.last_activity_at)) for c in conversations],
        )

    def touch_conversations(self, last_activity: Mapping[int, dt.datetime]) -> None:
        self._many(
            "UPDATE conversations SET last_activity_at = ? WHERE id = ? AND last_activity_at < ?",
            [(to_us(at), cid, to_us(at)) for cid, at in last_activity.items()],
        )

    def conversation(self, conversation_id: int) -> Conversation | None:
        row = self._one(
            "SELECT id, contact_id, channel, account, thread_key, subject, started_at,"
            " last_activity_at FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            return None
        return Conversation(id=row[0], contact_id=row[1], channel=row[2], account=row[3],
                            thread_key=row[4], subject=row[5], started_at=from_us(row[6]),
                            last_activity_at=from_us(row[7]))

    # -- interactions ----------------------------------------------------------------------
    def interaction_refs(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> dict[str, InteractionRef]:
        return self.interaction_refs_and_gaps(channel, account, external_ids)[0]

    def interaction_refs_and_gaps(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> tuple[dict[str, InteractionRef], set[str]]:
        wanted = list(dict.fromkeys(external_ids))
        found: dict[str, InteractionRef] = {}
        gaps: set[str] = set()
        self._lock(_key("interaction", channel, account, e) for e in wanted)
        for chunk in _chunks(wanted):
            found_rows, params = self._dialect.keyed(
                "interactions", "external_id, id, contact_id, conversation_id, occurred_at",
                ("channel = ? AND account = ?", (channel, account)), "external_id", chunk)
            # One statement: the open gaps (a partial index holds only those) ride
            # along with the lookup, as rows whose id is NULL.
            for ext, iid, contact_id, conversation_id, occurred in self._all(
                f"SELECT found.* FROM {found_rows} UNION ALL"
                " SELECT reference, NULL, NULL, NULL, NULL FROM gaps WHERE channel = ?"
                f" AND account = ? AND reference IN ({_marks(len(chunk))})"
                " AND closed_at IS NULL", (*params, channel, account, *chunk)
            ):
                if iid is None:
                    gaps.add(ext)
                else:
                    found[ext] = InteractionRef(id=iid, contact_id=contact_id,
                                                conversation_id=conversation_id,
                                                occurred_at=from_us(occurred))
        return found, gaps

    def insert_interactions(
        self, interactions: Sequence[Interaction], seals: Sequence[RowSeal] | None = None
    ) -> int:
        if seals is None:
            seals = [RowSeal(columns=content_columns(i)) for i in interactions]
        return self._many(_INSERT_INTERACTION,
                          [interaction_row(i, s) for i, s in zip(interactions, seals, strict=True)])

    def advance_status(self, interaction_id: int, status: str, rank: int) -> bool:
        cursor = self._execute(
            "UPDATE interactions SET status = ?, status_rank = ? WHERE id = ? AND status_rank < ?",
            (status, rank, interaction_id, rank))
        return bool(cursor.rowcount)

    def assign_external_id(self, interaction_id: int, external_id: str) -> None:
        if self._locking:  # a status for the new id may be racing it
            row = self._one("SELECT channel, account FROM interactions WHERE id = ?",
                            (interaction_id,))
            if row is not None:
                self._lock([_key("interaction", row[0], row[1], external_id)])
        # The chain covers the first external id; keep it (see omnicx._chain).
        self._execute("UPDATE interactions SET origin_id = coalesce(origin_id, external_id),"
                      " external_id = ? WHERE id = ?", (external_id, interaction_id))

    def interaction(self, interaction_id: int) -> Interaction | None:
        row = self._one(f"SELECT {_INTERACTION_COLUMNS} FROM interactions WHERE id = ?",
                        (interaction_id,))
        return None if row is None else interaction_from_row(row)

    def timeline(self, query: TimelineQuery) -> list[Interaction]:
        params: list[Any] = []
        if query.before is not None:
            params += [to_us(query.before[0]), query.before[1]]
        if query.since is not None:
            params.append(to_us(query.since))
        if query.until is not None:
            params.append(to_us(query.until))
        if query.channels:
            params += sorted(query.channels)
        shape = (query.before is not None, query.since is not None, query.until is not None,
                 len(query.channels or ()))
        group, limit = query.group_of, query.limit
        if group is None:
            statement = _timeline_sql(len(query.contact_ids), *shape, False)
            args = [*query.contact_ids, *params, limit]
        elif self._dialect.limit_each_branch:
            statement = _timeline_sql(0, *shape, True)
            args = [group, *params, limit, *params, limit, group, limit, limit]
        else:
            statement = _timeline_sql(0, *shape, False)
            args = [group, *params, group, *params, limit]
        return interactions_from_rows(self._all(statement, args))

    # -- search (omnicx.storage._fulltext) ------------------------------------------------
    def index_terms(self, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
        if rows:
            self._dialect.fulltext.index(
                self._cursor, [(iid, " ".join(terms)) for iid, terms in rows])

    def unindex_erased(self, contact_ids: Sequence[int]) -> int:
        if not contact_ids:
            return 0
        return self._dialect.fulltext.unindex(
            self._cursor, f"contact_id IN ({_marks(len(contact_ids))}) AND erased_at IS NOT NULL",
            list(contact_ids))

    def search(self, query: SearchQuery) -> list[tuple[Interaction, float]]:
        statement, params = self._dialect.fulltext.query(_INTERACTION_COLUMNS, query, to_us)
        rows = self._all(statement, params)
        items = interactions_from_rows(row[:-1] for row in rows)
        return [(item, float(row[-1])) for item, row in zip(items, rows, strict=True)]

    def last_inbound(
        self, contact_ids: Sequence[int], channel: str, account: str
    ) -> dt.datetime | None:
        row = self._one(
            f"SELECT max(occurred_at) FROM interactions WHERE contact_id IN"
            f" ({_marks(len(contact_ids))}) AND channel = ? AND account = ? AND direction = ?",
            (*contact_ids, channel, account, Direction.INBOUND.value))
        return None if row is None or row[0] is None else from_us(row[0])

    def outbound_behind(
        self, contact_ids: Sequence[int], channel: str, account: str, until: dt.datetime,
        rank: int,
    ) -> list[tuple[int, str, int]]:
        if not contact_ids:
            return []
        rows = self._all(
            f"SELECT id, external_id, contact_id FROM interactions WHERE contact_id IN"
            f" ({_marks(len(contact_ids))}) AND channel = ? AND account = ? AND direction = ?"
            " AND occurred_at <= ? AND status_rank < ? ORDER BY occurred_at, id",
            (*contact_ids, channel, account, Direction.OUTBOUND.value, to_us(until), rank))
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, events: Sequence[EventRecord],
                      seals: Sequence[RowSeal] | None = None) -> list[int]:
        if seals is None:
            seals = [RowSeal(columns=(_dumps(dict(e.data)),)) for e in events]
        inserted = []
        for e, seal in zip(events, seals, strict=True):
            # A second column: the error text went into the data (omnicx._vault.Sealer.event).
            data, *moved = seal.columns
            error = moved[0] if moved else e.error
            row = self._one(
                f"INSERT INTO events ({_EVENT_COLUMNS}, sealed, chain_seq, digest, hash,"
                f" prev_hash) VALUES ({_marks(18)})"
                " ON CONFLICT (channel, account, external_id, event_id) DO NOTHING RETURNING id",
                (e.id, e.interaction_id, e.channel, e.account, e.external_id, e.event_id,
                 str(e.kind), str(e.status) if e.status is not None else None,
                 to_us(e.occurred_at), to_us(e.received_at), error, data,
                 e.raw_id, seal.sealed, seal.seq, seal.digest, seal.hash, seal.prev_hash),
            )
            if row is not None:
                inserted.append(int(row[0]))
        return inserted

    def pending_events(self, channel: str, account: str, external_id: str) -> list[EventRecord]:
        rows = self._all(
            f"SELECT {_EVENT_READ} FROM events WHERE channel = ? AND account = ?"
            " AND external_id = ? AND interaction_id IS NULL ORDER BY occurred_at, id",
            (channel, account, external_id))
        return [_event_from_row(r) for r in rows]

    def attach_events(self, event_ids: Sequence[int], interaction_id: int) -> None:
        for chunk in _chunks(list(event_ids)):
            self._execute(
                f"UPDATE events SET interaction_id = ? WHERE id IN ({_marks(len(chunk))})",
                (interaction_id, *chunk))

    def events(self, interaction_id: int) -> list[EventRecord]:
        rows = self._all(
            f"SELECT {_EVENT_READ} FROM events WHERE interaction_id = ?"
            " ORDER BY occurred_at, id", (interaction_id,))
        return [_event_from_row(r) for r in rows]

    # -- service insight ---------------------------------------------------------------------
    def first_interaction(self, conversation_id: int) -> int | None:
        row = self._one("SELECT id FROM interactions WHERE conversation_id = ?"
                        " ORDER BY occurred_at, id LIMIT 1", (conversation_id,))
        return None if row is None else int(row[0])

    def activity(self, until: dt.datetime | None, *,
                 conversation_ids: Sequence[int] | None = None) -> Iterator[ActivityRow]:
        select = ("SELECT id, conversation_id, contact_id, channel, direction, kind,"
                  " message_type, occurred_at FROM interactions WHERE ")
        limit = [] if until is None else [to_us(until)]
        before = "" if until is None else " AND occurred_at < ?"
        if conversation_ids is None:
            batches: Iterable[Sequence[Any]] = [()]
            where = "TRUE"
        else:  # ascending chunks keep the order across statements
            batches = _chunks(sorted(set(conversation_ids)))
            where = ""
        for chunk in batches:
            if chunk:
                where = f"conversation_id IN ({_marks(len(chunk))})"
            cursor = self._execute(
                f"{select}{where}{before} ORDER BY conversation_id, occurred_at, id",
                [*chunk, *limit])
            while rows := cursor.fetchmany(2000):
                yield from rows

    def conversation_events(self, conversation_ids: Sequence[int] | None = None
                            ) -> list[tuple[int, EventRecord]]:
        select = (f"SELECT i.contact_id, {', '.join('e.' + c for c in _EVENT_READ.split(', '))}"
                  " FROM events e JOIN interactions i ON i.id = e.interaction_id"
                  " WHERE e.kind = ?")
        if conversation_ids is None:
            rows = self._all(f"{select} ORDER BY e.occurred_at, e.id", ("conversation",))
            return [(int(r[0]), _event_from_row(r[1:])) for r in rows]
        found = [(int(r[0]), _event_from_row(r[1:]))
                 for chunk in _chunks(sorted(set(conversation_ids))) for r in self._all(
                     f"{select} AND i.conversation_id IN ({_marks(len(chunk))})",
                     ("conversation", *chunk))]
        found.sort(key=lambda pair: (pair[1].occurred_at, pair[1].id))
        return found

    def merged_contacts(self) -> dict[int, int]:
        return {int(c): int(root) for c, root in self._all(
            "SELECT id, merged_into FROM contacts WHERE merged_into IS NOT NULL")}

    def kpi_summaries(self) -> Iterator[tuple[int, str]]:
        cursor = self._execute("SELECT conversation_id, summary FROM kpi_summaries")
        while rows := cursor.fetchmany(2000):
            yield from rows

    def store_kpi_summaries(self, rows: Sequence[tuple[int, str]], *, replace: bool) -> None:
        if replace:
            self._execute("DELETE FROM kpi_summaries")
        self._many("INSERT INTO kpi_summaries (conversation_id, summary) VALUES (?, ?)"
                   " ON CONFLICT (conversation_id) DO UPDATE SET summary = excluded.summary",
                   sorted(rows))

    # -- gaps --------------------------------------------------------------------------------
    def open_gaps(self, gaps: Sequence[Gap]) -> None:
        self._many(
            f"INSERT INTO gaps ({_GAP_COLUMNS}) VALUES ({_marks(9)})"
            " ON CONFLICT (kind, channel, account, reference) DO NOTHING",
            [(g.id, g.kind, str(g.channel), g.account, g.reference, g.contact_id,
              to_us(g.opened_at), _opt_us(g.closed_at), g.detail) for g in gaps],
        )

    def close_gaps(
        self, channel: str, account: str, references: Iterable[str], at: dt.datetime
    ) -> int:
        closed = 0
        for chunk in _chunks(list(references)):
            cursor = self._execute(
                "UPDATE gaps SET closed_at = ? WHERE channel = ? AND account = ?"
                f" AND reference IN ({_marks(len(chunk))}) AND closed_at IS NULL",
                (to_us(at), channel, account, *chunk))
            closed += int(cursor.rowcount)
        return closed

    def gaps(self, *, include_closed: bool) -> list[Gap]:
        where = "1 = 1" if include_closed else "closed_at IS NULL"
        return [_gap_from_row(r) for r in self._all(
            f"SELECT {_GAP_COLUMNS} FROM gaps WHERE {where} ORDER BY opened_at, id")]

    # -- reporting ----------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        interactions = {
            f"{channel}/{direction}/{status or 'none'}": int(count)
            for channel, direction, status, count in self._all(
                "SELECT channel, direction, status, count(*) FROM interactions"
                " GROUP BY channel, direction, status ORDER BY channel, direction, status")
        }
        (total, merged), = self._all(
            "SELECT count(*), count(merged_into) FROM contacts")
        (open_gaps, all_gaps), = self._all("SELECT count(*) - count(closed_at), count(*) FROM gaps")
        raws = {state: int(count) for state, count in self._all(
            "SELECT state, count(*) FROM raw_payloads GROUP BY state ORDER BY state")}
        return {
            "interactions": interactions,
            "contacts": {"total": int(total), "merged": int(merged)},
            "gaps": {"open": int(open_gaps), "closed": int(all_gaps) - int(open_gaps)},
            "raw_payloads": raws,
        }

    # -- cursors ------------------------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        self._lock([_key("cursor", name)])  # read to be moved forward
        row = self._one("SELECT value FROM cursors WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    def set_cursor(self, name: str, value: str, at: dt.datetime) -> None:
        self._execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at", (name, value, to_us(at)))

    # -- integrity and privacy ------------------------------------------------------------
    def chain_events(self, links: Sequence[tuple[int, int, bytes, bytes]]) -> None:
        self._many("UPDATE events SET chain_seq = ?, hash = ?, prev_hash = ? WHERE id = ?",
                   [(seq, digest, prev, event_id) for event_id, seq, digest, prev in links])

    def setting(self, name: str) -> str | None:
        row = self._one("SELECT value FROM omnicx_meta WHERE key = ?", (name,))
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self._execute("INSERT INTO omnicx_meta (key, value) VALUES (?, ?)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (name, value))

    def _by_contact(self, column: str, contact_ids: Iterable[int]) -> dict[int, bytes | None]:
        found: dict[int, bytes | None] = {}
        # A write reads a head or key to replace it: lock the rows, in id order.
        for chunk in _chunks(sorted(set(contact_ids))):
            for contact_id, value in self._all(
                    f"SELECT id, {column} FROM contacts WHERE id IN ({_marks(len(chunk))})"
                    f" ORDER BY id{self._for_update()}", chunk):
                found[contact_id] = None if value is None else bytes(value)
        return found

    def chain_heads(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]:
        return self._by_contact("chain_head", contact_ids)

    def set_chain_heads(self, heads: Mapping[int, bytes]) -> None:
        self._many("UPDATE contacts SET chain_head = ? WHERE id = ?",
                   [(head, contact_id) for contact_id, head in heads.items()])

    def data_keys(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]:
        return self._by_contact("data_key", contact_ids)

    def set_data_keys(self, keys: Mapping[int, bytes]) -> None:
        self._many("UPDATE contacts SET data_key = ? WHERE id = ?",
                   [(key, contact_id) for contact_id, key in keys.items()])

    def wrapped_keys(self) -> Iterator[tuple[int, bytes]]:
        last = 0
        while rows := self._all(
                "SELECT id, data_key FROM contacts WHERE data_key IS NOT NULL AND id > ?"
                " ORDER BY id LIMIT 1000", (last,)):
            yield from ((r[0], bytes(r[1])) for r in rows)
            last = rows[-1][0]

    def sealed(self, interaction_ids: Iterable[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(list(interaction_ids)):
            for iid, value in self._all(
                    f"SELECT id, sealed FROM interactions WHERE id IN ({_marks(len(chunk))})"
                    " AND sealed IS NOT NULL", chunk):
                found[iid] = blob(value)
        return found

    def chain_rows(self, contact_ids: Sequence[int]) -> ChainRows:
        ids = list(contact_ids)
        marks = _marks(len(ids))
        return ChainRows(
            heads=self.chain_heads(ids),
            interactions=self._all(
                f"SELECT {_CHAIN_INTERACTION} FROM interactions WHERE contact_id IN ({marks})",
                ids),
            events=self._all(
                f"SELECT {_CHAIN_EVENT} FROM events e JOIN interactions i"
                f" ON i.id = e.interaction_id WHERE i.contact_id IN ({marks})", ids),
            erasures=self._all(
                "SELECT id, contact_id, erased_at, erased_before, reason, chain_seq, hash,"
                " prev_hash"
                f" FROM erasures WHERE contact_id IN ({marks})", ids),
        )

    def chain_inputs(self, contact_ids: Sequence[int]
                     ) -> Iterator[Sequence[Sequence[Any]]] | None:
        return self._dialect.chain_inputs(self._cursor, contact_ids)

    def tampered_cells(self, contact_ids: Sequence[int]
                       ) -> list[tuple[str, int, int, int | None, str]]:
        ids = list(contact_ids)
        if not ids:
            return []
        statement = _TAMPERED_CELLS.format(marks=_marks(len(ids)))
        return [(r[0], r[1], r[2], r[3] if type(r[3]) is int else None, r[4])
                for r in self._all(statement, ids * 2)]

    def chained_contacts(self, after: int, limit: int) -> list[int]:
        return [r[0] for r in self._all(
            "SELECT id FROM contacts WHERE id > ? ORDER BY id LIMIT ?", (after, limit))]

    def insert_erasure(self, erasure_id: int, contact_id: int, at: dt.datetime,
                       before: dt.datetime | None, reason: str | None, seal: RowSeal) -> None:
        self._execute(
            "INSERT INTO erasures (id, contact_id, erased_at, erased_before, reason, chain_seq,"
            " hash,"
            " prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (erasure_id, contact_id, to_us(at), _opt_us(before), reason, seal.seq, seal.hash,
             seal.prev_hash))

    def erase_content(self, contact_id: int, before: dt.datetime | None,
                      at: dt.datetime) -> int:
        where = "contact_id = ? AND erased_at IS NULL"
        params: list[Any] = [contact_id]
        if before is not None:
            where += " AND occurred_at < ?"
            params.append(to_us(before))
        ids = [r[0] for r in self._all(f"SELECT id FROM interactions WHERE {where}", params)]
        stamp = to_us(at)
        for chunk in _chunks(ids):
            marks = _marks(len(chunk))
            self._execute(
                "UPDATE raw_payloads SET headers = NULL, body = NULL, sealed = NULL WHERE id IN"
                f" (SELECT raw_id FROM interactions WHERE id IN ({marks}) UNION"
                f" SELECT raw_id FROM events WHERE interaction_id IN ({marks}))",
                (*chunk, *chunk))
            self._execute(
                "UPDATE interactions SET sender_value = NULL, sender_name = NULL,"
                " recipients = NULL, subject = NULL, text = NULL, html = NULL,"
                " attachments = NULL, data = NULL, sealed = NULL, erased_at = ?"
                f" WHERE id IN ({marks})", (stamp, *chunk))
            self._execute(
                "UPDATE events SET data = NULL, sealed = NULL, erased_at = ?"
                f" WHERE interaction_id IN ({marks})", (stamp, *chunk))
        if before is None:
            self._execute("UPDATE conversations SET subject = NULL WHERE contact_id = ?",
                          (contact_id,))
        return len(ids)

    def forget_contact(self, contact_id: int, at: dt.datetime) -> None:
        self._execute("UPDATE raw_payloads SET headers = NULL, body = NULL, sealed = NULL,"
                      " error = NULL WHERE contact_id = ?", (contact_id,))
        self._execute("UPDATE conversations SET subject = NULL, thread_key = NULL"
                      " WHERE contact_id = ?", (contact_id,))
        self._execute("DELETE FROM addresses WHERE contact_id = ?", (contact_id,))
        self._execute("UPDATE contacts SET display_name = NULL, data_key = NULL,"
                      " erased_at = ? WHERE id = ?", (to_us(at), contact_id))

    def forget_raws(self, raw_ids: Sequence[int]) -> None:
        for chunk in _chunks(list(raw_ids)):
            self._execute(f"DELETE FROM raw_payloads WHERE id IN ({_marks(len(chunk))})", chunk)

    def contacts_with_content(self, before: dt.datetime) -> list[int]:
        return [r[0] for r in self._all(
            "SELECT DISTINCT contact_id FROM interactions WHERE erased_at IS NULL"
            " AND occurred_at < ? ORDER BY contact_id", (to_us(before),))]

    def seal_addresses(self, rows: Sequence[tuple[str, str, bytes]]) -> None:
        self._many("UPDATE addresses SET sealed = ? WHERE kind = ? AND value = ?",
                   [(sealed, kind, value) for kind, value, sealed in rows])

    def address_seals(self, contact_ids: Iterable[int]
                      ) -> dict[int, list[tuple[str, str, bytes]]]:
        found: dict[int, list[tuple[str, str, bytes]]] = {}
        for chunk in _chunks(list(dict.fromkeys(contact_ids))):
            for contact_id, kind, value, sealed in self._all(
                    "SELECT contact_id, kind, value, sealed FROM addresses"
                    f" WHERE contact_id IN ({_marks(len(chunk))}) AND sealed IS NOT NULL",
                    chunk):
                found.setdefault(contact_id, []).append((kind, value, bytes(sealed)))
        return found
