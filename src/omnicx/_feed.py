"""The change feed: every change to the history, in one order, written with the change.

A CRM keeps itself in sync by reading `History.changes` from a stored
cursor; webhooks (`omnicx._webhooks`) and in-process subscribers are fed
from the same rows. Why it cannot miss or repeat a change:

- **Same transaction.** `FeedStore` wraps the store a `History` writes
  through. Its transactions (`FeedTransaction`) see every write the ingest,
  `send`, merges, links, erasure, retention and gap handling make, note the
  change, and append the notes (`Transaction.append_changes`) as the last
  step of the same unit of work. A retried unit of work starts with no notes.
- **Commit order.** The store hands out positions in commit order (see
  `omnicx.storage._feedsql`), so a reader that asks for "after N" gets
  exactly what committed after N, even with many writing processes.
- **No content.** A change says what happened and to whom (ids, channel,
  kind, status, times), never what was said; with a key set it leaves out
  provider ids and references too, which can carry addresses. The CRM reads
  the content through `History.interaction` and friends, where the key and
  erasure apply.

Subscribers (`History.subscribe`) are called after the commit, in this
process; one that raises is logged and skipped, the change stays in the feed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

import attrs

from ._errors import ConfigurationError, NotFoundError
from ._lifecycle import ConversationChange
from ._models import Contact, Interaction, utc
from .storage._base import EventRecord, Gap, Store, Transaction
from .storage._feedrows import Change, NewChange, encode_cursor
from .storage._sql import _json_loads as _loads  # orjson with the `fast` extra

__all__ = [
    "Change",
    "ChangeKind",
    "ChangePage",
    "FeedStore",
    "FeedTransaction",
    "Subscription",
    "decode_cursor",
    "encode_cursor",
    "record_change",
]

T = TypeVar("T")
_log = logging.getLogger("omnicx.feed")
_CURSOR = re.compile(r"feed:(0|[1-9][0-9]{0,18})")


class ChangeKind(enum.StrEnum):
    """What a `Change` reports. Webhook event types are these values."""

    INTERACTION_CREATED = "interaction.created"
    STATUS_CHANGED = "interaction.status_changed"
    EDITED = "interaction.edited"
    REACTED = "interaction.reacted"
    UNREACTED = "interaction.unreacted"
    DELETED = "interaction.deleted"  # revoked by its sender
    CONTACT_CREATED = "contact.created"
    MERGED = "contact.merged"
    UNMERGED = "contact.unmerged"
    LINKED = "contact.linked"
    ERASED = "contact.erased"  # erasure (``before`` null) or retention (``before`` set)
    GAP_OPENED = "gap.opened"
    GAP_CLOSED = "gap.closed"
    CONVERSATION_STATE_CHANGED = "conversation.state_changed"


KINDS = frozenset(k.value for k in ChangeKind)
_EVENT_KINDS = {"edited": ChangeKind.EDITED, "reacted": ChangeKind.REACTED,
                "unreacted": ChangeKind.UNREACTED, "revoked": ChangeKind.DELETED}


@attrs.frozen(kw_only=True)
class ChangePage:
    """One page of the change feed, oldest first.

    ``next_cursor`` is never ``None``: store it with what you did with the
    items and pass it as ``after=`` next time. An empty page means the feed
    has nothing newer yet; ask again with the same cursor later.
    """

    items: tuple[Change, ...]
    next_cursor: str


def decode_cursor(cursor: str | int | None) -> int:
    """A feed position from a cursor (``None`` or ``0``: the beginning)."""
    if cursor is None:
        return 0
    if isinstance(cursor, int):
        if cursor < 0:
            raise NotFoundError(f"not a feed position: {cursor}")
        return cursor
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise NotFoundError(f"not a feed cursor: {cursor!r}") from exc
    found = _CURSOR.fullmatch(text)
    if found is None:  # only what encode_cursor makes, so a cursor has one spelling
        raise NotFoundError(f"not a feed cursor: {cursor!r}")
    return int(found[1])


_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str).encode
# The C encoder behind `_encode`, made once: the same text without the encoder that
# `JSONEncoder.encode` builds on every call (most of the cost of a change's small
# dict, and a bulk import notes one a message).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_dict = None if _c_encoder is None else _c_encoder(
    None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True)


def _json(data: Mapping[str, Any]) -> str:
    if not data:
        return "{}"
    return _encode(data) if _c_dict is None else "".join(_c_dict(data, 0))


def _iso(value: dt.datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")


def read_changes(store: Store, after: str | int | None, limit: int,
                 kinds: Iterable[str] | None = None) -> ChangePage:
    """`History.changes`: the page of changes after ``after``."""
    if limit < 1:
        raise ConfigurationError("limit must be at least 1")
    wanted = _kinds(kinds)
    position = decode_cursor(after)
    items: list[Change] = []
    # Filtering by kind skips rows; read on until the page is full or the feed ends.
    while len(items) < limit:
        with store.reading(snapshot=False) as tx:
            records = tx.changes(position, limit)
        if not records:
            break
        position = records[-1].id
        items.extend(r for r in records if wanted is None or r.kind in wanted)
        if len(records) < limit:
            break
    if len(items) > limit:
        position = items[limit - 1].id
        del items[limit:]
    return ChangePage(items=tuple(items), next_cursor=encode_cursor(position))


def _kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    wanted = frozenset(str(k) for k in ([kinds] if isinstance(kinds, str) else kinds))
    unknown = wanted - KINDS
    if unknown:
        raise ConfigurationError(f"unknown change kinds: {', '.join(sorted(unknown))}")
    return wanted


# -- subscribers ---------------------------------------------------------------------------------
@attrs.define(eq=False)
class Subscription:
    """A callback registered with `History.subscribe`; `cancel` unregisters it."""

    callback: Callable[[Change], object]
    kinds: frozenset[str] | None
    _owner: FeedStore

    def cancel(self) -> None:
        self._owner.unsubscribe(self)


# -- the store wrapper ----------------------------------------------------------------------------
class FeedStore:
    """A store whose write transactions record their changes in the feed.

    Everything else (``capabilities``, ``close``, a backend's own attributes)
    is the wrapped store's. ``redact``: leave provider ids and references
    out of change data (a key is set).
    """

    def __init__(self, inner: Store, *, redact: bool) -> None:
        self.inner = inner
        self.redact = redact
        self.capabilities = inner.capabilities
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        committed: list[Change] = []

        def unit(tx: Transaction) -> T:
            feed = FeedTransaction(tx, redact=self.redact)
            result = work(cast(Transaction, feed))
            committed.clear()
            if feed.notes:
                positions = tx.append_changes(feed.notes)
                if self._subscriptions:  # Change objects only for someone to call
                    committed.extend(
                        Change(id=p, kind=n.kind, at=n.at, contact_id=n.contact_id,
                               interaction_id=n.interaction_id, data=_loads(n.data))
                        for p, n in zip(positions, feed.notes, strict=True))
            return result

        result = self.inner.atomic(unit)
        if committed and self._subscriptions:
            self.publish(committed)
        return result

    def reading(self, *, snapshot: bool = True) -> AbstractContextManager[Transaction]:
        return self.inner.reading(snapshot=snapshot)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # -- subscribers -------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Change], object],
                  kinds: Iterable[str] | None = None) -> Subscription:
        subscription = Subscription(callback, _kinds(kinds), self)
        with self._lock:
            self._subscriptions = [*self._subscriptions, subscription]
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]

    def publish(self, changes: Sequence[Change]) -> None:
        """Call the subscribers with committed changes; a callback's exception is logged."""
        for subscription in self._subscriptions:  # a copy-on-write list: safe to iterate
            for change in changes:
                if subscription.kinds is not None and change.kind not in subscription.kinds:
                    continue
                try:
                    subscription.callback(change)
                except Exception:
                    _log.exception("subscriber %r failed on change %d (%s); the change"
                                   " stays in the feed", subscription.callback, change.id,
                                   change.kind)


class FeedTransaction:
    """A `Transaction` that notes the changes its writes make (``notes``).

    Each write it knows is passed on, then noted from what the store says
    was actually written (an insert skipped as a duplicate is no change).
    Every other method is the wrapped transaction's.
    """

    def __init__(self, inner: Transaction, *, redact: bool) -> None:
        self._inner = inner
        self._redact = redact
        self.notes: list[NewChange] = []
        self._owners: dict[int, int] = {}  # interaction id -> contact id
        self._waiting: dict[int, EventRecord] = {}
        self._now = dt.datetime.now(dt.UTC)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if callable(found):  # a bound method of the inner transaction: looked up once
            self.__dict__[name] = found
        return found

    def note(self, kind: str, *, contact_id: int | None = None,
             interaction_id: int | None = None, data: Mapping[str, Any] | None = None) -> None:
        """Record a change this transaction made (kinds: `ChangeKind`)."""
        self.notes.append(NewChange(kind=str(kind), at=self._now, contact_id=contact_id,
                                    interaction_id=interaction_id, data=_json(data or {})))

    def _owner(self, interaction_id: int) -> int | None:
        owner = self._owners.get(interaction_id)
        if owner is None:
            found = self._inner.interaction(interaction_id)
            if found is not None:
                owner = self._owners[interaction_id] = found.contact_id
        return owner

    # -- contacts ------------------------------------------------------------------------------
    def insert_contacts(self, contacts: Sequence[Contact]) -> None:
        self._inner.insert_contacts(contacts)
        for contact in contacts:
            self.note(ChangeKind.CONTACT_CREATED, contact_id=contact.id,
                      data={"merged_into": contact.merged_into})

    def merge(self, winner_id: int, loser_id: int, at: dt.datetime, reason: str | None) -> None:
        self._inner.merge(winner_id, loser_id, at, reason)
        self.note(ChangeKind.MERGED, contact_id=winner_id,
                  data={"winner_id": winner_id, "loser_id": loser_id})

    def unmerge(self, winner_id: int, loser_id: int, at: dt.datetime) -> None:
        self._inner.unmerge(winner_id, loser_id, at)
        self.note(ChangeKind.UNMERGED, contact_id=winner_id,
                  data={"winner_id": winner_id, "loser_id": loser_id})

    def link_crm(self, contact_id: int, crm_id: str) -> None:
        self._inner.link_crm(contact_id, crm_id)
        self.note(ChangeKind.LINKED, contact_id=contact_id, data={"crm_id": crm_id})

    def insert_erasure(self, erasure_id: int, contact_id: int, at: dt.datetime,
                       before: dt.datetime | None, reason: str | None, seal: Any) -> None:
        self._inner.insert_erasure(erasure_id, contact_id, at, before, reason, seal)
        self.note(ChangeKind.ERASED, contact_id=contact_id, data={
            "erasure_id": erasure_id, "before": None if before is None else _iso(before)})

    # -- interactions ----------------------------------------------------------------------------
    def interaction_refs(self, channel: str, account: str, external_ids: Iterable[str]
                         ) -> Any:
        found = self._inner.interaction_refs(channel, account, external_ids)
        for ref in found.values():
            self._owners[ref.id] = ref.contact_id
        return found

    def outbound_behind(self, *args: Any) -> Any:
        found = self._inner.outbound_behind(*args)  # watermarks: whose statuses move
        for interaction_id, _, contact_id in found:
            self._owners[interaction_id] = contact_id
        return found

    def insert_interactions(self, interactions: Sequence[Interaction],
                            seals: Sequence[Any] | None = None) -> int:
        inserted = self._inner.insert_interactions(interactions, seals)
        stored = list(interactions)
        if inserted != len(stored):  # some were known: note only the rows that are ours
            stored = [i for i in stored if (found := self._inner.interaction(i.id)) is not None
                      and found.external_id == i.external_id]
        # `note` inlined: a bulk import notes one change a message.
        owners, notes, at, redact = self._owners, self.notes, self._now, self._redact
        created = str(ChangeKind.INTERACTION_CREATED)
        for item in stored:
            owners[item.id] = item.contact_id
            data: dict[str, Any] = {
                "channel": str(item.channel), "account": item.account,
                "direction": str(item.direction), "kind": str(item.kind),
                "conversation_id": item.conversation_id,
                "occurred_at": _iso(item.occurred_at),
                "status": None if item.status is None else str(item.status)}
            if not redact:
                data["external_id"] = item.external_id
            notes.append(NewChange(kind=created, at=at, contact_id=item.contact_id,
                                   interaction_id=item.id, data=_json(data)))
        return inserted

    def advance_status(self, interaction_id: int, status: str, rank: int) -> bool:
        moved = self._inner.advance_status(interaction_id, status, rank)
        if moved:
            self.note(ChangeKind.STATUS_CHANGED, contact_id=self._owner(interaction_id),
                      interaction_id=interaction_id, data={"status": status})
        return moved

    # -- events (edits, reactions, revokes) --------------------------------------------------------
    def insert_events(self, events: Sequence[EventRecord],
                      seals: Sequence[Any] | None = None) -> list[int]:
        inserted = self._inner.insert_events(events, seals)
        if inserted:
            ids = set(inserted)
            for record in events:
                if record.id in ids and record.interaction_id is not None:
                    self._note_event(record, record.interaction_id)
        return inserted

    def pending_events(self, channel: str, account: str, external_id: str
                       ) -> list[EventRecord]:
        waiting = self._inner.pending_events(channel, account, external_id)
        for record in waiting:
            self._waiting[record.id] = record
        return waiting

    def attach_events(self, event_ids: Sequence[int], interaction_id: int) -> None:
        self._inner.attach_events(event_ids, interaction_id)
        for event_id in event_ids:
            record = self._waiting.get(event_id)
            if record is not None:
                self._note_event(record, interaction_id)

    def _note_event(self, record: EventRecord, interaction_id: int) -> None:
        if str(record.kind) == "conversation":
            self._note_conversation(record, interaction_id)
            return
        kind = _EVENT_KINDS.get(str(record.kind))
        if kind is None:  # statuses are noted when the interaction's status moves
            return
        self.note(kind, contact_id=self._owner(interaction_id), interaction_id=interaction_id,
                  data={"event_id": record.id,
                        "occurred_at": _iso(record.occurred_at)})

    def _note_conversation(self, record: EventRecord, opener_id: int) -> None:
        """A lifecycle change (omnicx._lifecycle): its skeleton, never its reason."""
        change = ConversationChange.from_event(record)
        self.note(ChangeKind.CONVERSATION_STATE_CHANGED, contact_id=self._owner(opener_id),
                  data={"conversation_id": change.conversation_id, "action": change.action,
                        "state": None if change.state is None else str(change.state),
                        "assignee": change.assignee, "team": change.team,
                        "until": None if change.until is None else _iso(change.until),
                        "occurred_at": _iso(change.occurred_at)})

    # -- gaps ----------------------------------------------------------------------------------
    def open_gaps(self, gaps: Sequence[Gap]) -> None:
        opened = set(self._inner.open_gaps_returning(gaps))
        for gap in gaps:
            if gap.id in opened:
                self.note(ChangeKind.GAP_OPENED, contact_id=gap.contact_id,
                          data=self._gap_data(gap))

    def close_gaps(self, channel: str, account: str, references: Iterable[str],
                   at: dt.datetime) -> int:
        closed = self._inner.close_gaps_returning(channel, account, references, at)
        for gap in closed:
            self.note(ChangeKind.GAP_CLOSED, contact_id=gap.contact_id,
                      data=self._gap_data(gap))
        return len(closed)

    def _gap_data(self, gap: Gap) -> dict[str, Any]:
        data: dict[str, Any] = {"gap_id": gap.id, "kind": gap.kind,
                                "channel": str(gap.channel), "account": gap.account}
        if not self._redact:
            data["reference"] = gap.reference
        return data


def record_change(tx: Transaction, kind: ChangeKind | str, *, contact_id: int | None = None,
                  interaction_id: int | None = None,
                  data: Mapping[str, Any] | None = None) -> None:
    """Note a change made in ``tx`` that no store write reports by itself.

    For write paths the wrapper cannot see (a conversation's state kept
    elsewhere): call it inside the unit of work, and the change commits with
    it. Outside a `History`'s transactions (a bare store) it does nothing.
    """
    if str(kind) not in KINDS:
        raise ConfigurationError(f"unknown change kind: {kind}")
    if isinstance(tx, FeedTransaction):
        tx.note(kind, contact_id=contact_id, interaction_id=interaction_id, data=data)
