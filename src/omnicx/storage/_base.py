"""The `Store` protocol every backend implements, and the records it moves.

A store is deliberately dumb: it keeps rows and enforces the invariants a
database can enforce (uniqueness of ``(channel, account, external_id)``,
forward-only status, one owner per address). All decisions (who a message
belongs to, which conversation it threads into, what is a gap) are made once,
in `omnicx._ingest`, on top of this protocol, so every backend behaves the
same. Backends differ only in `Capabilities`, never in behaviour.

Writes happen in `Store.atomic`, which runs a function in one transaction
and re-runs it when the backend reports a transient conflict (a locked
SQLite file, a PostgreSQL serialization failure, a unique violation from a
concurrent writer). The function must therefore be safe to re-run: it reads
what it needs through the `Transaction` it is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import attrs

from .._enums import Channel, EventKind, Status, optional_status, to_channel, to_event_kind
from .._models import Contact, Conversation, Interaction, utc

__all__ = [
    "AddressOwner",
    "Capabilities",
    "EventRecord",
    "Gap",
    "InteractionRef",
    "RawPayload",
    "Store",
    "TimelineQuery",
    "Transaction",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a backend can do; the conformance suite reads these, never a backend's name.

    ``durable``: committed data survives the process (false for memory).
    ``multi_process``: several processes may write to the same store.
    ``concurrent_writers``: writers proceed in parallel rather than one at a time.
    """

    durable: bool
    multi_process: bool
    concurrent_writers: bool


@attrs.frozen(kw_only=True)
class RawPayload:
    """A payload exactly as it arrived, kept for replay and audit."""

    id: int
    channel: str
    account: str
    received_at: dt.datetime = attrs.field(converter=utc)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    state: str = "ok"  # ok | quarantined | replayed
    error: str | None = None


@attrs.frozen(kw_only=True)
class Gap:
    """Something known to be missing from the history.

    ``kind`` says what: ``missing_parent`` (a reply or reaction to an unknown
    message), ``status_without_message`` (an update for an unknown message),
    and whatever channels add (``imap_uid``, ``chat_sequence``).
    ``reference`` is the missing item's external id; the gap closes by
    itself when an interaction with that id arrives on the same channel and
    account.
    """

    id: int
    kind: str
    channel: Channel = attrs.field(converter=to_channel)
    account: str
    reference: str
    contact_id: int | None = None
    opened_at: dt.datetime = attrs.field(converter=utc)
    closed_at: dt.datetime | None = None
    detail: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@attrs.frozen(kw_only=True)
class EventRecord:
    """A stored `UpdateEvent`: a status change, edit, revoke or reaction."""

    id: int
    interaction_id: int | None
    channel: str
    account: str
    external_id: str
    event_id: str
    kind: EventKind = attrs.field(converter=to_event_kind)
    status: Status | None = attrs.field(default=None, converter=optional_status)
    occurred_at: dt.datetime = attrs.field(converter=utc)
    received_at: dt.datetime = attrs.field(converter=utc)
    error: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    raw_id: int | None = None


@attrs.frozen(kw_only=True)
class InteractionRef:
    """The identity of a stored interaction, enough to attach things to it."""

    id: int
    contact_id: int
    conversation_id: int
    occurred_at: dt.datetime


@attrs.frozen(kw_only=True)
class AddressOwner:
    """Who owns an address: the contact it was first seen with, and that contact's root.

    ``root_id`` differs from ``contact_id`` when the owner was merged into another contact;
    ``named`` tells whether the owner has a display name already.
    """

    contact_id: int
    root_id: int
    named: bool = False


@attrs.frozen(kw_only=True)
class TimelineQuery:
    """A page request: ``before`` is the exclusive keyset position (occurred_at, id)."""

    contact_ids: tuple[int, ...]
    limit: int
    before: tuple[dt.datetime, int] | None = None
    channels: frozenset[str] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class Transaction(Protocol):
    """The operations the ingest pipeline and queries need, inside one transaction.

    Lookups take many keys at once, so a batch of a thousand payloads costs a
    handful of queries, not thousands: ``members`` maps each root contact to
    itself plus the contacts merged into it; ``threads`` maps ``(contact_id,
    thread_key)`` to the most recently active conversation and its last
    activity.
    """

    # -- ids ---------------------------------------------------------------------
    def new_ids(self, table: str, count: int) -> Sequence[int]: ...

    # -- raw archive and quarantine -----------------------------------------------
    def archive(self, payloads: Sequence[RawPayload]) -> None: ...
    def set_raw_state(self, raw_id: int, state: str, error: str | None) -> None: ...
    def raw(self, raw_id: int) -> RawPayload | None: ...
    def raws(self, state: str) -> list[RawPayload]: ...

    # -- contacts and addresses -----------------------------------------------------
    def owners(
        self, addresses: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], AddressOwner]: ...
    def insert_contacts(self, contacts: Sequence[Contact]) -> None: ...
    def insert_addresses(
        self, rows: Sequence[tuple[str, str, int, str | None]], at: dt.datetime
    ) -> int: ...
    def set_display_name(self, contact_id: int, name: str) -> None: ...
    def contact(self, contact_id: int) -> Contact | None: ...
    def contacts(self) -> Iterator[Contact]: ...
    def members(self, root_ids: Iterable[int]) -> dict[int, tuple[int, ...]]: ...
    def merge(self, winner_id: int, loser_id: int, at: dt.datetime, reason: str | None) -> None: ...
    def unmerge(self, winner_id: int, loser_id: int, at: dt.datetime) -> None: ...
    def link_crm(self, contact_id: int, crm_id: str) -> None: ...
    def contact_by_crm(self, crm_id: str) -> int | None: ...

    # -- conversations -----------------------------------------------------------------
    def threads(
        self, contact_ids: Iterable[int], channel: str, account: str, thread_keys: Iterable[str]
    ) -> dict[tuple[int, str], tuple[int, dt.datetime]]: ...
    def insert_conversations(self, conversations: Sequence[Conversation]) -> None: ...
    def touch_conversations(self, last_activity: Mapping[int, dt.datetime]) -> None: ...
    def conversation(self, conversation_id: int) -> Conversation | None: ...

    # -- interactions --------------------------------------------------------------------
    def interaction_refs(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> dict[str, InteractionRef]: ...
    def insert_interactions(self, interactions: Sequence[Interaction]) -> int: ...
    def advance_status(self, interaction_id: int, status: str, rank: int) -> bool: ...
    def assign_external_id(self, interaction_id: int, external_id: str) -> None: ...
    def interaction(self, interaction_id: int) -> Interaction | None: ...
    def timeline(self, query: TimelineQuery) -> list[Interaction]: ...
    def last_inbound(
        self, contact_ids: Sequence[int], channel: str, account: str
    ) -> dt.datetime | None: ...

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, events: Sequence[EventRecord]) -> list[int]: ...
    def pending_events(self, channel: str, account: str, external_id: str) -> list[EventRecord]: ...
    def attach_events(self, event_ids: Sequence[int], interaction_id: int) -> None: ...
    def events(self, interaction_id: int) -> list[EventRecord]: ...

    # -- gaps ------------------------------------------------------------------------------
    def open_gaps(self, gaps: Sequence[Gap]) -> None: ...
    def close_gaps(
        self, channel: str, account: str, references: Iterable[str], at: dt.datetime
    ) -> int: ...
    def gaps(self, *, include_closed: bool) -> list[Gap]: ...

    # -- reporting ---------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        """Row counts for reports: ``interactions`` by ``channel/direction/status``,
        ``contacts`` (``total``, ``merged``), ``gaps`` (``open``, ``closed``) and
        ``raw_payloads`` by state."""
        ...

    # -- resume cursors ---------------------------------------------------------------------
    def cursor(self, name: str) -> str | None: ...
    def set_cursor(self, name: str, value: str, at: dt.datetime) -> None: ...


class Store(Protocol):
    """A storage backend: memory, SQLite, PostgreSQL or your own.

    Run `omnicx.testing.StoreConformance` against it to prove it behaves.
    """

    capabilities: Capabilities

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one write transaction, retrying transient conflicts."""
        ...

    def reading(self) -> AbstractContextManager[Transaction]:
        """A transaction for reads only (a consistent snapshot where the backend has one)."""
        ...

    def close(self) -> None: ...
