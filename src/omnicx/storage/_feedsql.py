"""The change feed and the webhook outbox in portable SQL (a mixin of `SqlTransaction`).

Positions: `append_changes` bumps the one-row ``change_clock`` as the last
thing a writing transaction does and keeps the row's lock until commit, so
the blocks of positions commit in the order they were taken. On SQLite the
write lock makes that true anyway; on PostgreSQL, where writers run in
parallel, it is what keeps ``id > cursor`` from skipping a change committed
late (a sequence would hand out ids in start order, not commit order). The
price is that writers queue for the few statements between the bump and
their commit, not for their work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import _sql  # a cycle: _sql's SqlTransaction mixes this in; used at call time
from ._base import Gap
from ._feedrows import AttemptRecord, Change, DeliveryRecord, NewChange, WebhookRecord

__all__ = ["FeedSql"]

_CHUNK = 500
_DELIVERY_COLUMNS = ("id, webhook_id, change_id, contact_id, state, attempts, created_at,"
                     " next_attempt_at, delivered_at, last_error")
_GAP_COLUMNS = "id, kind, channel, account, reference, contact_id, opened_at, closed_at, detail"


def _us(value: dt.datetime) -> int:
    return _sql.to_us(value)


def _time(value: int) -> dt.datetime:
    return _sql.from_us(value)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _events_column(events: frozenset[str] | None) -> str:
    return "*" if events is None else "," + ",".join(sorted(events)) + ","


def _events_value(column: str) -> frozenset[str] | None:
    return None if column == "*" else frozenset(e for e in column.split(",") if e)


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row[0], webhook_id=row[1], change_id=row[2], contact_id=row[3], state=row[4],
        attempts=row[5], created_at=_time(row[6]), next_attempt_at=_time(row[7]),
        delivered_at=None if row[8] is None else _time(row[8]), last_error=row[9])


class FeedSql:
    """Feed and outbox statements; mixed into `SqlTransaction`, whose plumbing it uses."""

    if TYPE_CHECKING:  # provided by SqlTransaction
        def _execute(self, statement: str, params: Sequence[Any] = ()) -> Any: ...
        def _many(self, statement: str, rows: Sequence[Sequence[Any]]) -> int: ...
        def _all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def _one(self, statement: str, params: Sequence[Any] = ()) -> Any: ...
        def _for_update(self) -> str: ...
        def _lock(self, keys: Iterable[str]) -> None: ...

    # -- the feed ------------------------------------------------------------------------
    def append_changes(self, changes: Sequence[NewChange]) -> list[int]:
        if not changes:
            return []
        count = len(changes)
        last, webhooks = self._one(
            "UPDATE change_clock SET value = value + ? WHERE id = 1 RETURNING value, webhooks",
            (count,))
        first = int(last) - count + 1
        self._many(
            "INSERT INTO changes (id, kind, at, contact_id, interaction_id, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(first + n, c.kind, _us(c.at), c.contact_id, c.interaction_id, c.data)
             for n, c in enumerate(changes)])
        if not webhooks:
            return list(range(first, int(last) + 1))
        now = _us(changes[-1].at)
        # The outbox: a delivery per change and matching webhook, in this transaction.
        self._execute(
            "INSERT INTO webhook_deliveries (webhook_id, change_id, contact_id, created_at,"
            " next_attempt_at) SELECT w.id, c.id, c.contact_id, ?, ? FROM changes c"
            " JOIN webhooks w ON w.active = 1 AND (w.events = '*'"
            " OR w.events LIKE '%,' || c.kind || ',%') WHERE c.id BETWEEN ? AND ?",
            (now, now, first, int(last)))
        return list(range(first, int(last) + 1))

    def changes(self, after: int, limit: int) -> list[Change]:
        rows = self._all(
            "SELECT id, kind, at, contact_id, interaction_id, data FROM changes"
            " WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        time, loads = _sql.from_us, _sql._json_loads
        return [Change(id=r[0], kind=r[1], at=time(r[2]), contact_id=r[3],
                       interaction_id=r[4], data=loads(r[5]) if r[5] else {}) for r in rows]

    def change_records(self, change_ids: Iterable[int]) -> dict[int, Change]:
        wanted = sorted(set(change_ids))
        found: dict[int, Change] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            for r in self._all(
                "SELECT id, kind, at, contact_id, interaction_id, data FROM changes"
                f" WHERE id IN ({_marks(len(chunk))})", chunk):
                found[r[0]] = Change(id=r[0], kind=r[1], at=_time(r[2]), contact_id=r[3],
                                     interaction_id=r[4],
                                     data=_sql._json_loads(r[5]) if r[5] else {})
        return found

    def last_change(self) -> int:
        (value,) = self._one("SELECT value FROM change_clock WHERE id = 1")
        return int(value)

    # -- gaps, reporting what changed ----------------------------------------------------------
    def open_gaps_returning(self, gaps: Sequence[Gap]) -> list[int]:
        opened = []
        for g in gaps:
            row = self._one(
                f"INSERT INTO gaps ({_GAP_COLUMNS}) VALUES ({_marks(9)})"
                " ON CONFLICT (kind, channel, account, reference) DO NOTHING RETURNING id",
                (g.id, g.kind, str(g.channel), g.account, g.reference, g.contact_id,
                 _us(g.opened_at), None if g.closed_at is None else _us(g.closed_at),
                 g.detail))
            if row is not None:
                opened.append(int(row[0]))
        return opened

    def close_gaps_returning(self, channel: str, account: str, references: Iterable[str],
                             at: dt.datetime) -> list[Gap]:
        wanted = list(dict.fromkeys(references))
        closed = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            for r in self._all(
                "UPDATE gaps SET closed_at = ? WHERE channel = ? AND account = ?"
                f" AND reference IN ({_marks(len(chunk))}) AND closed_at IS NULL"
                f" RETURNING {_GAP_COLUMNS}", (_us(at), channel, account, *chunk)):
                closed.append(Gap(id=r[0], kind=r[1], channel=r[2], account=r[3],
                                  reference=r[4], contact_id=r[5], opened_at=_time(r[6]),
                                  closed_at=_time(r[7]), detail=r[8]))
        return closed

    # -- webhooks ------------------------------------------------------------------------------
    def insert_webhook(self, url: str, events: frozenset[str] | None, secret: str | None,
                       sealed: bytes | None, at: dt.datetime) -> int:
        (webhook_id,) = self._one(
            "INSERT INTO webhooks (url, secret, sealed, events, created_at, active)"
            " VALUES (?, ?, ?, ?, ?, 1) RETURNING id",
            (url, secret, sealed, _events_column(events), _us(at)))
        self._count_webhooks()
        return int(webhook_id)

    def _count_webhooks(self) -> None:
        self._execute("UPDATE change_clock SET webhooks = (SELECT count(*) FROM webhooks"
                      " WHERE active = 1) WHERE id = 1")

    def seal_webhook(self, webhook_id: int, sealed: bytes) -> None:
        self._execute("UPDATE webhooks SET secret = NULL, sealed = ? WHERE id = ?",
                      (sealed, webhook_id))

    def webhooks(self) -> list[WebhookRecord]:
        return [WebhookRecord(id=r[0], url=r[1], secret=r[2],
                              sealed=None if r[3] is None else bytes(r[3]),
                              events=_events_value(r[4]), created_at=_time(r[5]),
                              active=bool(r[6]))
                for r in self._all("SELECT id, url, secret, sealed, events, created_at, active"
                                   " FROM webhooks ORDER BY id")]

    def set_webhook_active(self, webhook_id: int, active: bool) -> bool:
        found = bool(self._execute("UPDATE webhooks SET active = ? WHERE id = ?",
                                   (int(active), webhook_id)).rowcount)
        if not active:  # what was waiting for it will never be sent
            self._execute("UPDATE webhook_deliveries SET state = 'dead', last_error = ?"
                          " WHERE webhook_id = ? AND state = 'pending'",
                          ("webhook disabled", webhook_id))
        self._count_webhooks()
        return found

    # -- deliveries ----------------------------------------------------------------------------
    def next_delivery_at(self) -> dt.datetime | None:
        row = self._one("SELECT min(next_attempt_at) FROM webhook_deliveries"
                        " WHERE state = 'pending'")
        return None if row is None or row[0] is None else _time(int(row[0]))

    def claim_deliveries(self, now: dt.datetime, limit: int, lease_until: dt.datetime
                         ) -> list[DeliveryRecord]:
        # One claim at a time (where writers run in parallel): a claim that waited
        # behind another must see that one's leases, or it could take a contact's
        # later delivery while the earlier one is still being sent.
        self._lock(["webhook-claims"])
        # Due, and not behind an earlier pending delivery of the same contact to the
        # same webhook that is waiting for its retry or in flight: per-contact order.
        rows = self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.state = 'pending'"
            " AND d.next_attempt_at <= ? AND NOT (d.contact_id IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM webhook_deliveries e WHERE e.state = 'pending'"
            " AND e.webhook_id = d.webhook_id AND e.contact_id = d.contact_id"
            " AND e.change_id < d.change_id AND e.next_attempt_at > ?))"
            f" ORDER BY d.change_id LIMIT ?{self._for_update()}",
            (_us(now), _us(now), limit))
        claimed = [_delivery(r) for r in rows]
        for start in range(0, len(claimed), _CHUNK):
            chunk = [d.id for d in claimed[start:start + _CHUNK]]
            self._execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ?"
                f" WHERE id IN ({_marks(len(chunk))})", (_us(lease_until), *chunk))
        return claimed

    def release_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> None:
        for start in range(0, len(delivery_ids), _CHUNK):
            chunk = list(delivery_ids[start:start + _CHUNK])
            self._execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE state = 'pending'"
                f" AND id IN ({_marks(len(chunk))})", (_us(at), *chunk))

    def record_attempts(self, outcomes: Sequence[tuple[AttemptRecord, str, dt.datetime]]
                        ) -> None:
        if not outcomes:
            return
        self._many(
            "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1,"
            " next_attempt_at = ?, last_error = ?,"
            " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
            " WHERE id = ?",
            [(state, _us(after), a.error, state, _us(a.attempted_at), a.delivery_id)
             for a, state, after in outcomes])
        self._many(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, error,"
            " duration_us) VALUES (?, ?, ?, ?, ?)",
            [(a.delivery_id, _us(a.attempted_at), a.status_code, a.error,
              a.duration // dt.timedelta(microseconds=1)) for a, _, _ in outcomes])

    def deliveries(self, *, state: str | None, webhook_id: int | None, after: int,
                   limit: int) -> list[DeliveryRecord]:
        where, params = ["id > ?"], [after]
        if state is not None:
            where.append("state = ?")
            params.append(state)  # type: ignore[arg-type]
        if webhook_id is not None:
            where.append("webhook_id = ?")
            params.append(webhook_id)
        rows = self._all(f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries"
                         f" WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit))
        return [_delivery(r) for r in rows]

    def requeue_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> int:
        requeued = 0
        for start in range(0, len(delivery_ids), _CHUNK):
            chunk = list(delivery_ids[start:start + _CHUNK])
            cursor = self._execute(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?,"
                f" created_at = ? WHERE state = 'dead' AND id IN ({_marks(len(chunk))})",
                (_us(at), _us(at), *chunk))
            requeued += int(cursor.rowcount)
        return requeued

    def prune_deliveries(self, before: dt.datetime) -> int:
        cutoff = _us(before)
        self._execute(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM"
            " webhook_deliveries WHERE state = 'delivered' AND delivered_at < ?)", (cutoff,))
        cursor = self._execute("DELETE FROM webhook_deliveries WHERE state = 'delivered'"
                               " AND delivered_at < ?", (cutoff,))
        return int(cursor.rowcount)

    def attempts(self, delivery_id: int) -> list[AttemptRecord]:
        rows = self._all(
            "SELECT delivery_id, attempted_at, status_code, error, duration_us"
            " FROM webhook_attempts WHERE delivery_id = ? ORDER BY id", (delivery_id,))
        return [AttemptRecord(delivery_id=r[0], attempted_at=_time(r[1]), status_code=r[2],
                              error=r[3], duration=dt.timedelta(microseconds=r[4]))
                for r in rows]
