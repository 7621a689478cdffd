"""The change feed and the webhook outbox in memory (a mixin of the memory transaction).

Same semantics as `omnicx.storage._feedsql` (the conformance suite holds
both to them): positions follow commit order (the memory store's lock
serialises writers), deliveries are written with their change, claims
respect per-contact order. Every write goes through the undo log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ._base import Gap
from ._feedrows import AttemptRecord, Change, DeliveryRecord, NewChange, WebhookRecord

if TYPE_CHECKING:
    from ._memory import _Tables

__all__ = ["FeedMemory", "FeedTables"]


class FeedTables:
    """The feed's and outbox's rows of one memory store."""

    def __init__(self) -> None:
        self.clock: dict[str, int] = {"value": 0}
        self.changes: dict[int, Change] = {}
        self.webhooks: dict[int, WebhookRecord] = {}
        self.deliveries: dict[int, DeliveryRecord] = {}
        self.attempts: dict[int, AttemptRecord] = {}


class FeedMemory:
    """Feed and outbox operations over `_Tables` (``self._t``)."""

    _t: _Tables

    if TYPE_CHECKING:  # provided by the memory transaction
        def new_ids(self, table: str, count: int) -> Sequence[int]: ...
        def open_gaps(self, gaps: Sequence[Gap]) -> None: ...

    # -- the feed ------------------------------------------------------------------------
    def append_changes(self, changes: Sequence[NewChange]) -> list[int]:
        feed = self._t.feed
        if not changes:
            return []
        first = feed.clock["value"] + 1
        self._t.put(feed.clock, "value", feed.clock["value"] + len(changes))
        positions = list(range(first, first + len(changes)))
        hooks = [w for w in feed.webhooks.values() if w.active]
        for position, change in zip(positions, changes, strict=True):
            self._t.put(feed.changes, position, Change(
                id=position, kind=change.kind, at=change.at, contact_id=change.contact_id,
                interaction_id=change.interaction_id, data=json.loads(change.data)))
            for hook in hooks:
                if hook.events is None or change.kind in hook.events:
                    (delivery_id,) = self.new_ids("webhook_deliveries", 1)
                    self._t.put(feed.deliveries, delivery_id, DeliveryRecord(
                        id=delivery_id, webhook_id=hook.id, change_id=position,
                        contact_id=change.contact_id, state="pending", attempts=0,
                        created_at=changes[-1].at, next_attempt_at=changes[-1].at))
        return positions

    def changes(self, after: int, limit: int) -> list[Change]:
        feed = self._t.feed
        found = []
        for position in range(after + 1, feed.clock["value"] + 1):
            record = feed.changes.get(position)
            if record is not None:
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    def change_records(self, change_ids: Iterable[int]) -> dict[int, Change]:
        changes = self._t.feed.changes
        return {i: changes[i] for i in set(change_ids) if i in changes}

    def last_change(self) -> int:
        return self._t.feed.clock["value"]

    # -- gaps, reporting what changed ----------------------------------------------------------
    def open_gaps_returning(self, gaps: Sequence[Gap]) -> list[int]:
        fresh: dict[tuple[str, str, str, str], Gap] = {}
        for gap in gaps:
            key = (gap.kind, gap.channel.value, gap.account, gap.reference)
            if key not in self._t.gap_keys:
                fresh.setdefault(key, gap)
        self.open_gaps(list(fresh.values()))
        return [g.id for g in fresh.values()]

    def close_gaps_returning(self, channel: str, account: str, references: Iterable[str],
                             at: dt.datetime) -> list[Gap]:
        wanted = set(references)
        closed = []
        for gap in list(self._t.gaps.values()):
            if (gap.channel.value == channel and gap.account == account
                    and gap.reference in wanted and gap.closed_at is None):
                done = attrs.evolve(gap, closed_at=at)
                self._t.put(self._t.gaps, gap.id, done)
                closed.append(done)
        return closed

    # -- webhooks ------------------------------------------------------------------------------
    def insert_webhook(self, url: str, events: frozenset[str] | None, secret: str | None,
                       sealed: bytes | None, at: dt.datetime) -> int:
        (webhook_id,) = self.new_ids("webhooks", 1)
        self._t.put(self._t.feed.webhooks, webhook_id, WebhookRecord(
            id=webhook_id, url=url, events=events, created_at=at, secret=secret,
            sealed=sealed))
        return webhook_id

    def seal_webhook(self, webhook_id: int, sealed: bytes) -> None:
        hooks = self._t.feed.webhooks
        if webhook_id in hooks:
            self._t.put(hooks, webhook_id,
                        attrs.evolve(hooks[webhook_id], secret=None, sealed=sealed))

    def webhooks(self) -> list[WebhookRecord]:
        return sorted(self._t.feed.webhooks.values(), key=lambda w: w.id)

    def set_webhook_active(self, webhook_id: int, active: bool) -> bool:
        feed = self._t.feed
        hook = feed.webhooks.get(webhook_id)
        if hook is None:
            return False
        self._t.put(feed.webhooks, webhook_id, attrs.evolve(hook, active=active))
        if not active:
            for delivery in list(feed.deliveries.values()):
                if delivery.webhook_id == webhook_id and delivery.state == "pending":
                    self._t.put(feed.deliveries, delivery.id, attrs.evolve(
                        delivery, state="dead", last_error="webhook disabled"))
        return True

    # -- deliveries ----------------------------------------------------------------------------
    def next_delivery_at(self) -> dt.datetime | None:
        due = [d.next_attempt_at for d in self._t.feed.deliveries.values()
               if d.state == "pending"]
        return min(due) if due else None

    def claim_deliveries(self, now: dt.datetime, limit: int, lease_until: dt.datetime
                         ) -> list[DeliveryRecord]:
        feed = self._t.feed
        pending = sorted((d for d in feed.deliveries.values() if d.state == "pending"),
                         key=lambda d: d.change_id)
        waiting: set[tuple[int, int]] = set()  # (webhook, contact) behind a retry
        claimed = []
        for delivery in pending:
            queue = (delivery.webhook_id, delivery.contact_id)
            if delivery.contact_id is not None and queue in waiting:
                continue
            if delivery.next_attempt_at > now:
                if delivery.contact_id is not None:
                    waiting.add((delivery.webhook_id, delivery.contact_id))
                continue
            claimed.append(delivery)
            if len(claimed) >= limit:
                break
        for delivery in claimed:
            self._t.put(feed.deliveries, delivery.id,
                        attrs.evolve(delivery, next_attempt_at=lease_until))
        return claimed

    def release_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> None:
        feed = self._t.feed
        for delivery_id in delivery_ids:
            delivery = feed.deliveries.get(delivery_id)
            if delivery is not None and delivery.state == "pending":
                self._t.put(feed.deliveries, delivery_id,
                            attrs.evolve(delivery, next_attempt_at=at))

    def record_attempts(self, outcomes: Sequence[tuple[AttemptRecord, str, dt.datetime]]
                        ) -> None:
        feed = self._t.feed
        for attempt, state, after in outcomes:
            delivery = feed.deliveries.get(attempt.delivery_id)
            if delivery is None:
                continue
            self._t.put(feed.deliveries, delivery.id, attrs.evolve(
                delivery, state=state, attempts=delivery.attempts + 1, next_attempt_at=after,
                last_error=attempt.error,
                delivered_at=attempt.attempted_at if state == "delivered"
                else delivery.delivered_at))
            (attempt_id,) = self.new_ids("webhook_attempts", 1)
            self._t.put(feed.attempts, attempt_id, attempt)

    def deliveries(self, *, state: str | None, webhook_id: int | None, after: int,
                   limit: int) -> list[DeliveryRecord]:
        found = [d for d in sorted(self._t.feed.deliveries.values(), key=lambda d: d.id)
                 if d.id > after and (state is None or d.state == state)
                 and (webhook_id is None or d.webhook_id == webhook_id)]
        return found[:limit]

    def requeue_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> int:
        feed = self._t.feed
        requeued = 0
        for delivery_id in delivery_ids:
            delivery = feed.deliveries.get(delivery_id)
            if delivery is not None and delivery.state == "dead":
                self._t.put(feed.deliveries, delivery_id, attrs.evolve(
                    delivery, state="pending", next_attempt_at=at, created_at=at))
                requeued += 1
        return requeued

    def prune_deliveries(self, before: dt.datetime) -> int:
        feed = self._t.feed
        gone = {d.id for d in feed.deliveries.values() if d.state == "delivered"
                and d.delivered_at is not None and d.delivered_at < before}
        for attempt_id, attempt in list(feed.attempts.items()):
            if attempt.delivery_id in gone:
                self._t.remove(feed.attempts, attempt_id)
        for delivery_id in gone:
            self._t.remove(feed.deliveries, delivery_id)
        return len(gone)

    def attempts(self, delivery_id: int) -> list[AttemptRecord]:
        return [a for _, a in sorted(self._t.feed.attempts.items())
                if a.delivery_id == delivery_id]
