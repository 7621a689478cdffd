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
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar

import attrs

from .._enums import Channel, EventKind, Status, optional_status, to_channel, to_event_kind
from .._errors import ConfigurationError
from .._models import Contact, Conversation, Interaction, utc
from ._feedrows import AttemptRecord, Change, DeliveryRecord, NewChange, WebhookRecord
from ._fulltext import SearchQuery

__all__ = [
    "ActivityRow",
    "AddressOwner",
    "Capabilities",
    "ChainRows",
    "EventRecord",
    "Gap",
    "InteractionRef",
    "RawPayload",
    "RowSeal",
    "SearchQuery",
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
    sealed: bytes | None = None  # headers and body, encrypted (then both are empty)
    contact_id: int | None = None  # the person it is about, once known (emptied on erasure)


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
    # Integrity and privacy, set by the ingest (see `RowSeal`); ``data`` is empty when sealed.
    digest: bytes | None = None
    sealed: bytes | None = None


class RowSeal(NamedTuple):
    """The integrity and privacy columns of a new row, computed by the ingest.

    ``columns`` are the values of the content columns to store (for an
    interaction the nine `omnicx._chain.CONTENT_COLUMNS`; all ``None`` but
    ``sender_kind`` when the content is sealed; for an event its ``data``
    column), ``sealed`` the ciphertext,
    ``digest`` the SHA-256 of the content, and ``seq``/``hash``/``prev_hash``
    the row's place in its contact's chain (``None`` for an event that waits
    for its message: it joins the chain when attached). A named tuple, not an
    attrs class: the ingest makes one per row, and this is the cheap kind.
    """

    columns: tuple[Any, ...] = ()
    sealed: bytes | None = None
    digest: bytes | None = None
    seq: int | None = None
    hash: bytes | None = None
    prev_hash: bytes | None = None


@attrs.frozen(kw_only=True)
class ChainRows:
    """Everything `History.verify` needs about some contacts, as plain column tuples.

    Row shapes (the verifier reads positions; every backend returns the same):

    - ``interactions``: id, contact_id, conversation_id, channel, account,
      coalesce(origin_id, external_id), direction, kind, message_type,
      occurred_at, received_at, reply_to, raw_id, chain_seq, digest, hash,
      prev_hash, erased_at, sealed, the nine content columns, external_id,
      origin_id, origin_status, status, status_rank;
    - ``events`` (attached to those interactions): id, interaction_id,
      channel, account, external_id, event_id, kind, status, occurred_at,
      received_at, error, raw_id, chain_seq, digest, hash, prev_hash,
      erased_at, sealed, data, and the owning contact's id;
    - ``erasures``: id, contact_id, erased_at, erased_before, reason, chain_seq, hash,
      prev_hash.

    Times are integer microseconds. ``heads`` maps each contact to its
    ``chain_head``.
    """

    heads: Mapping[int, bytes | None]
    interactions: Sequence[Sequence[Any]]
    events: Sequence[Sequence[Any]]
    erasures: Sequence[Sequence[Any]]


@attrs.frozen(kw_only=True)
class InteractionRef:
    """The identity of a stored interaction, enough to attach things to it."""

    id: int
    contact_id: int
    conversation_id: int
    occurred_at: dt.datetime


ActivityRow: TypeAlias = tuple[int, int, int, str, str, str, str | None, int]
"""The skeleton of one interaction, as service KPIs read it (no content, no key):
``(interaction_id, conversation_id, contact_id, channel, direction, kind,
message_type, occurred_us)``.

``contact_id`` is the interaction's own contact (`Transaction.merged_contacts`
gives the roots); ``occurred_us`` the provider
time in microseconds since the epoch. A plain tuple, as the driver returns it,
not a named one: KPIs read millions, and naming each row cost about a sixth
of their time (unpack it).
"""


@attrs.frozen(kw_only=True)
class AddressOwner:
    """Who owns an address: the contact it was first seen with, and that contact's root.

    ``root_id`` differs from ``contact_id`` when the owner was merged into another contact;
    ``named`` tells whether the owner has a display name already; ``merged`` whether
    other contacts are merged into the root (``None``: the store did not say, and
    `Transaction.members` is asked). ``head_known`` says that ``head`` is the owner's
    ``chain_head`` as `Transaction.chain_heads` would return it in this transaction,
    read with the owner, so that the ingest need not read it again: a store whose
    writers run in parallel, which must read heads under a row lock, leaves it false.
    """

    contact_id: int
    root_id: int
    named: bool = False
    merged: bool | None = None
    head: bytes | None = None
    head_known: bool = False


@attrs.frozen(kw_only=True)
class TimelineQuery:
    """A page request: ``before`` is the exclusive keyset position (occurred_at, id).

    Whose page: either ``contact_ids``, or ``group_of``, a contact whose whole
    merge group (see `Transaction.group`) the backend resolves in the same
    read as the page, in one statement where it can. An unknown ``group_of``
    gives an empty page.
    """

    contact_ids: tuple[int, ...] = ()
    group_of: int | None = None
    limit: int
    before: tuple[dt.datetime, int] | None = None
    channels: frozenset[str] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __attrs_post_init__(self) -> None:
        if (self.group_of is None) == (not self.contact_ids):
            raise ConfigurationError("a timeline query needs contact_ids or group_of, not both")


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
    def contacts(self, after: int = 0) -> Iterator[Contact]:
        """Every unmerged contact with an id above ``after``, by id (lazily, so a
        reader may stop after a page: the read API's contact cursor)."""
        ...
    def members(self, root_ids: Iterable[int]) -> dict[int, tuple[int, ...]]: ...
    def group(self, contact_id: int) -> tuple[int, ...] | None:
        """The merge group of a contact: its root first, then the contacts merged
        into the root; ``None`` if the contact does not exist. One lookup, for
        queries such as the timeline that need no more of the contact."""
        ...
    def merge(self, winner_id: int, loser_id: int, at: dt.datetime, reason: str | None) -> None:
        """Merge the root ``loser_id`` into the root ``winner_id``. `ConflictError`
        if either is no longer a root: the caller decided on a state that a
        concurrent writer has changed since, and the unit of work re-runs."""
        ...
    def unmerge(self, winner_id: int, loser_id: int, at: dt.datetime) -> None:
        """Undo the merge of ``loser_id`` into ``winner_id``; `ConflictError` if
        ``loser_id`` is no longer merged into ``winner_id``."""
        ...
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
    def interaction_refs_and_gaps(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> tuple[dict[str, InteractionRef], set[str]]:
        """`interaction_refs`, and which of ``external_ids`` are the reference of an
        open gap on this channel and account, in one read: the ingest then runs
        `close_gaps` only when a new message fills a gap (rarely), not for every
        message. Consistent as `interaction_refs` is (a gap on an external id is
        opened by a writer that looked the id up)."""
        ...
    def insert_interactions(
        self, interactions: Sequence[Interaction], seals: Sequence[RowSeal] | None = None
    ) -> int:
        """Insert new interactions, skipping known external ids; return how many were new.

        ``seals`` (one per interaction) come from the ingest; without them
        the content is stored in the clear and outside any hash chain, which
        `History.verify` reports (for store-level tests and tools only).
        """
        ...
    def advance_status(self, interaction_id: int, status: str, rank: int) -> bool: ...
    def assign_external_id(self, interaction_id: int, external_id: str) -> None: ...
    def interaction(self, interaction_id: int) -> Interaction | None: ...
    def timeline(self, query: TimelineQuery) -> list[Interaction]: ...
    def last_inbound(
        self, contact_ids: Sequence[int], channel: str, account: str
    ) -> dt.datetime | None: ...

    # -- search (omnicx._search) -----------------------------------------------------------
    def index_terms(self, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Store (or replace) the search terms of interactions: (id, terms in order)."""
        ...
    def unindex_erased(self, contact_ids: Sequence[int]) -> int:
        """Drop the search terms of these contacts' erased interactions, from the
        disk too (see `omnicx.storage._fulltext`); return how many rows."""
        ...
    def search(self, query: SearchQuery) -> list[tuple[Interaction, float]]:
        """The unerased interactions matching ``query`` with their scores, best first,
        then the most recently stored (highest id) first."""
        ...
    def outbound_behind(
        self, contact_ids: Sequence[int], channel: str, account: str, until: dt.datetime,
        rank: int,
    ) -> list[tuple[int, str, int]]:
        """Outbound interactions of these contacts on ``channel``/``account`` that
        occurred at or before ``until`` and whose status ranks below ``rank``, as
        (id, external_id, contact_id), oldest first (a watermark's targets)."""
        ...

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, events: Sequence[EventRecord],
                      seals: Sequence[RowSeal] | None = None) -> list[int]:
        """Insert events, skipping known ones; return the ids inserted (``seals``: as above)."""
        ...
    def pending_events(self, channel: str, account: str, external_id: str) -> list[EventRecord]: ...
    def attach_events(self, event_ids: Sequence[int], interaction_id: int) -> None: ...
    def events(self, interaction_id: int) -> list[EventRecord]: ...
    def chain_events(self, links: Sequence[tuple[int, int, bytes, bytes]]) -> None:
        """Give waiting events, now attached, their place: (event id, seq, hash, prev_hash)."""
        ...

    # -- integrity and privacy --------------------------------------------------------------
    def setting(self, name: str) -> str | None: ...
    def set_setting(self, name: str, value: str) -> None: ...
    def chain_heads(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]: ...
    def set_chain_heads(self, heads: Mapping[int, bytes]) -> None: ...
    def data_keys(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]: ...
    def set_data_keys(self, keys: Mapping[int, bytes]) -> None: ...
    def wrapped_keys(self) -> Iterator[tuple[int, bytes]]:
        """Every contact's wrapped data key (for a key rotation)."""
        ...
    def sealed(self, interaction_ids: Iterable[int]) -> dict[int, bytes]:
        """The ciphertext of those interactions that have one."""
        ...
    def chain_rows(self, contact_ids: Sequence[int]) -> ChainRows: ...
    def chain_inputs(self, contact_ids: Sequence[int]
                     ) -> Iterator[Sequence[Sequence[Any]]] | None:
        """The bytes those contacts' chained records hash to, built by the database.

        ``None`` when the backend cannot build them (`History.verify` then
        checks every record from `chain_rows`). Otherwise chunks of rows, in
        any order, one per record of `chain_rows`: contact id, chain_seq (-1
        unless an integer), prev_hash, hash, ``prev_hash || b"ocx1" || material``,
        the content bytes (``sealed``, or the canonical encoding of the
        content columns; an event's data) and the digest. The checks of
        `omnicx._chain.verify_contact` that are not hashes are made by the
        store: a record failing one (chain fields missing, erased content no
        chained erasure covers, a replaced external id no chained event
        carries) has a NULL digest; a record with no content to check (an
        erasure, erased content) has ``b""`` and the digest of ``b""``. Bytes
        built wrongly cost speed, never correctness: a contact whose bytes do
        not hash to its stored hashes is checked again from its columns. May
        raise `StorageError` (for example on a value the encoding cannot hold).
        """
        ...
    def tampered_cells(self, contact_ids: Sequence[int]
                       ) -> list[tuple[str, int, int, int | None, str]]:
        """The cells of these contacts themselves that their chains do not explain.

        Rows of (table, contact id, record id, chain position or ``None``,
        column): a contact whose ``erased_at`` is set without a chained full
        erasure, or cleared despite one (``erased_at``); a contact with
        sealed, unerased content whose data key is gone without an erasure
        (``data_key``). (An interaction's mutable cells are checked with its
        record: `chain_rows`, `chain_inputs`.)
        """
        ...
    def chained_contacts(self, after: int, limit: int) -> list[int]:
        """Ids of contacts (merged or not) above ``after``, ascending, at most ``limit``."""
        ...
    def insert_erasure(self, erasure_id: int, contact_id: int, at: dt.datetime,
                       before: dt.datetime | None, reason: str | None, seal: RowSeal) -> None: ...
    def erase_content(self, contact_id: int, before: dt.datetime | None,
                      at: dt.datetime) -> int:
        """Null the content of a contact's interactions (older than ``before``), their
        events and raw payloads; mark them erased. Returns the interactions erased."""
        ...
    def forget_contact(self, contact_id: int, at: dt.datetime) -> None:
        """Destroy a contact's data key, addresses and name; mark it erased. Empty the
        raw payloads tied to it (``RawPayload.contact_id``) and its conversations'
        subjects and thread keys (an email thread key holds the subject)."""
        ...
    def forget_raws(self, raw_ids: Sequence[int]) -> None:
        """Delete these raw payloads (quarantined ones an erasure found the person in)."""
        ...
    def contacts_with_content(self, before: dt.datetime) -> list[int]:
        """Contacts that have unerased interactions older than ``before``."""
        ...
    def seal_addresses(self, rows: Sequence[tuple[str, str, bytes]]) -> None:
        """Store the sealed readable form of addresses: (kind, stored value, sealed)."""
        ...
    def address_seals(self, contact_ids: Iterable[int]
                      ) -> dict[int, list[tuple[str, str, bytes]]]:
        """The sealed addresses of these contacts: (kind, stored value, sealed)."""
        ...

    # -- gaps ------------------------------------------------------------------------------
    def open_gaps(self, gaps: Sequence[Gap]) -> None: ...
    def close_gaps(
        self, channel: str, account: str, references: Iterable[str], at: dt.datetime
    ) -> int: ...
    def gaps(self, *, include_closed: bool) -> list[Gap]: ...

    # -- service insight ---------------------------------------------------------------------
    def first_interaction(self, conversation_id: int) -> int | None:
        """The id of the earliest interaction of a conversation (``None``: unknown id)."""
        ...

    def activity(self, until: dt.datetime | None, *,
                 conversation_ids: Sequence[int] | None = None) -> Iterator[ActivityRow]:
        """Every interaction before ``until`` (of these conversations, or all) as an
        `ActivityRow`, ordered by conversation, then provider time, then id
        (streamed: KPIs read millions)."""
        ...

    def conversation_events(self, conversation_ids: Sequence[int] | None = None
                            ) -> list[tuple[int, EventRecord]]:
        """Every event of kind ``conversation`` (lifecycle changes) with the contact of
        the interaction it is attached to (of these conversations' interactions, or
        all), in provider order."""
        ...

    def merged_contacts(self) -> dict[int, int]:
        """Every merged contact with its root (``merged_into``); a contact not here is
        its own root."""
        ...

    def kpi_summaries(self) -> Iterator[tuple[int, str]]:
        """The stored KPI summaries: (conversation id, summary JSON), any order
        (``omnicx._kpis`` writes and reads them; the store keeps the text)."""
        ...

    def store_kpi_summaries(self, rows: Sequence[tuple[int, str]], *, replace: bool) -> None:
        """Insert or replace these KPI summaries; ``replace``: drop every other one."""
        ...

    # -- reporting ---------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        """Row counts for reports: ``interactions`` by ``channel/direction/status``,
        ``contacts`` (``total``, ``merged``), ``gaps`` (``open``, ``closed``) and
        ``raw_payloads`` by state."""
        ...

    # -- resume cursors ---------------------------------------------------------------------
    def cursor(self, name: str) -> str | None: ...
    def set_cursor(self, name: str, value: str, at: dt.datetime) -> None: ...

    # -- change feed and webhook outbox (see omnicx.storage._feedsql) ---------------------
    def append_changes(self, changes: Sequence[NewChange]) -> list[int]:
        """Give these changes the next positions of the feed, in commit order; write a
        pending delivery for each active webhook whose events match. The last
        thing a writing transaction does. Returns the positions."""
        ...
    def changes(self, after: int, limit: int) -> list[Change]:
        """Changes above position ``after``, ascending, at most ``limit``."""
        ...
    def change_records(self, change_ids: Iterable[int]) -> dict[int, Change]: ...
    def last_change(self) -> int:
        """The highest position handed out (0 for none)."""
        ...
    def open_gaps_returning(self, gaps: Sequence[Gap]) -> list[int]:
        """`open_gaps`, returning the ids of the gaps that were new."""
        ...
    def close_gaps_returning(self, channel: str, account: str, references: Iterable[str],
                             at: dt.datetime) -> list[Gap]:
        """`close_gaps`, returning the gaps it closed."""
        ...
    def insert_webhook(self, url: str, events: frozenset[str] | None, secret: str | None,
                       sealed: bytes | None, at: dt.datetime) -> int: ...
    def seal_webhook(self, webhook_id: int, sealed: bytes) -> None: ...
    def webhooks(self) -> list[WebhookRecord]: ...
    def set_webhook_active(self, webhook_id: int, active: bool) -> bool:
        """Switch a webhook on or off; off also gives up its pending deliveries (dead)."""
        ...
    def next_delivery_at(self) -> dt.datetime | None:
        """When the earliest pending delivery is due (``None``: nothing pending)."""
        ...
    def claim_deliveries(self, now: dt.datetime, limit: int, lease_until: dt.datetime
                         ) -> list[DeliveryRecord]:
        """Pending deliveries due at ``now`` that no earlier pending delivery of the
        same contact to the same webhook waits before, in change order; each is
        leased (its next attempt moved to ``lease_until``) so that a concurrent
        worker does not take it too."""
        ...
    def release_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> None:
        """Give pending deliveries back before their lease ends (due again at ``at``)."""
        ...
    def record_attempts(self, outcomes: Sequence[tuple[AttemptRecord, str, dt.datetime]]
                        ) -> None:
        """Log attempts; set each delivery's new state and next attempt time."""
        ...
    def deliveries(self, *, state: str | None, webhook_id: int | None, after: int,
                   limit: int) -> list[DeliveryRecord]: ...
    def requeue_deliveries(self, delivery_ids: Sequence[int], at: dt.datetime) -> int:
        """Make dead deliveries pending again, due at ``at``; returns how many."""
        ...
    def prune_deliveries(self, before: dt.datetime) -> int:
        """Delete deliveries delivered before ``before``, and their attempts; returns
        how many deliveries. Pending and dead ones stay."""
        ...
    def attempts(self, delivery_id: int) -> list[AttemptRecord]: ...


class Store(Protocol):
    """A storage backend: memory, SQLite, PostgreSQL or your own.

    Run `omnicx.testing.StoreConformance` against it to prove it behaves.
    """

    capabilities: Capabilities

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one write transaction, retrying transient conflicts."""
        ...

    def reading(self, *, snapshot: bool = True) -> AbstractContextManager[Transaction]:
        """A transaction for reads only (a consistent snapshot where the backend has one).

        ``snapshot=False`` is for a caller that needs only one statement to be
        consistent (each statement sees committed data as of its own start):
        a backend may then skip opening and ending a transaction, which on a
        client-server database are round trips of their own.
        """
        ...

    def close(self) -> None: ...
