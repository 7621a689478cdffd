"""Ingestion: parsed channel events -> stored history, inside one transaction.

`ingest` is called by `History.receive` (one payload) and
`History.receive_batch` (many) with the store's `Transaction`; the store
commits everything it wrote, or nothing. The steps, in order:

1. look up, in bulk, every external id the batch mentions (its own ids,
   reply-to parents, thread references, update targets);
2. for each new message: resolve its addresses to one contact (creating,
   linking or merging contacts), thread it into a conversation, build the
   `Interaction`; a known external id is a counted duplicate;
3. archive the raw payloads, each tied to the contact it is about (its
   ``contact_id``), so that erasing that person empties it (redeliveries too);
4. insert the new rows with the database's own uniqueness guard: if another
   writer got there first, `ConflictError` makes `Store.atomic` re-run the
   whole function, which then sees those rows as duplicates;
5. store updates (statuses, edits, reactions) as append-only events; a
   status moves the current status forward only; an update for a message not
   yet seen waits, as an open gap, and is applied when the message arrives;
6. every new row goes through the transaction's `Sealer` (``omnicx._vault``):
   content sealed when there is a key, each row appended to its contact's
   hash chain, the heads written back last;
7. messages that carry a `StreamPosition` (a chat ``seq``, an IMAP UID) move
   their stream's high-water mark (kept as a cursor); skipped numbers open
   gaps that close when the missing message arrives;
8. watermarks (`WatermarkEvent`, "everything sent before T was read") move
   every outbound interaction of the contact behind the mark forward, with
   one status event each (see `_watermark`).

The function is deterministic given the database state and must stay
re-runnable: it keeps no state between calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import cast

import attrs

from ._enums import Direction, EventKind, Status, status_rank
from ._errors import ConflictError
from ._events import ChannelEvent, MessageEvent, StreamPosition, UpdateEvent, WatermarkEvent
from ._models import Address, Contact, Conversation, Interaction, InteractionTwin
from ._scrub import scrub_event, scrub_raw
from ._search import document_terms
from ._vault import Sealer
from .storage._base import AddressOwner, EventRecord, Gap, InteractionRef, RawPayload, Transaction

__all__ = ["IngestResult", "Parsed", "about", "ingest", "new_interaction", "record_events"]

MISSING_PARENT = "missing_parent"
STATUS_WITHOUT_MESSAGE = "status_without_message"
# A stream hole wider than this opens one gap for the whole range (which stays
# open until closed by hand) instead of one gap per missing number.
MAX_HOLE_GAPS = 1000


@attrs.frozen(kw_only=True)
class Parsed:
    """One payload and what parsing it produced.

    ``archive=False`` on replay (the payload is archived already); ``raw`` is
    ``None`` for interactions that come from no payload (outbound sends).
    """

    raw: RawPayload | None
    events: Sequence[ChannelEvent]
    archive: bool = True


@attrs.define(kw_only=True)
class IngestResult:
    interactions: list[Interaction] = attrs.Factory(list)
    duplicates: int = 0
    updates: int = 0
    gaps_opened: int = 0
    gaps_closed: int = 0
    # Per archived payload (raw id): [duplicates, updates]; lets group commit
    # (``omnicx._group``) ingest many requests in one call and still answer each.
    by_raw: dict[int, list[int]] = attrs.Factory(dict)

    def count(self, raw_id: int | None, *, duplicate: bool) -> None:
        """Count a duplicate (or else an update) of the payload ``raw_id``."""
        if duplicate:
            self.duplicates += 1
        else:
            self.updates += 1
        if raw_id:
            self.by_raw.setdefault(raw_id, [0, 0])[0 if duplicate else 1] += 1


AccountKey = tuple[str, str]


class _Batch:
    """The working state of one `ingest` call."""

    def __init__(self, tx: Transaction, now: dt.datetime, sealer: Sealer) -> None:
        self.tx = tx
        self.now = now
        self.sealer = sealer
        self.streams: dict[str, int | None] = {}
        self.stored_streams: dict[str, int | None] = {}  # as the batch found them
        self.stream_arrivals: dict[AccountKey, list[str]] = {}
        self.stream_fills: dict[AccountKey, list[str]] = {}  # arrivals below a stored mark
        self.known: dict[AccountKey, dict[str, InteractionRef]] = {}
        self.open_refs: dict[AccountKey, set[str]] = {}  # mentioned ids with an open gap
        self.owners: dict[tuple[str, str], AddressOwner] = {}
        self.members: dict[int, tuple[int, ...]] = {}
        # (contact_id, channel, account, thread_key) -> (conversation_id, last activity),
        # loaded for every contact in thread_scope[(channel, account)].
        self.threads: dict[tuple[int, str, str, str], tuple[int, dt.datetime]] = {}
        self.thread_scope: dict[AccountKey, set[int]] = {}
        self.thread_keys: dict[AccountKey, set[str]] = {}
        self.created: set[int] = set()
        self.named: set[int] = set()
        self.new_contacts: list[Contact] = []
        self.new_addresses: list[tuple[str, str, int, str | None]] = []
        self.new_conversations: list[Conversation] = []
        self.touched: dict[int, dt.datetime] = {}
        self.gaps: list[Gap] = []
        self.watermarked: list[tuple[Interaction, Address]] = []
        self.result = IngestResult()

    # -- identity ------------------------------------------------------------------------
    def flush_identity(self) -> None:
        if self.new_contacts:
            self.tx.insert_contacts(self.new_contacts)
            self.new_contacts = []
        if self.new_addresses:
            expected = len(self.new_addresses)
            if self.tx.insert_addresses(self.new_addresses, self.now) != expected:
                raise ConflictError("an address was claimed by a concurrent writer")
            self.new_addresses = []

    def resolve(self, addresses: Sequence[Address], name: str | None, reason: str) -> AddressOwner:
        """The contact these addresses belong to; link, create or merge as needed."""
        keys = [(str(a.kind), a.value) for a in addresses]
        found = [self.owners[k] for k in keys if k in self.owners]
        if not found:
            (contact_id,) = self.tx.new_ids("contacts", 1)
            self.new_contacts.append(Contact(id=contact_id, display_name=name,
                                             created_at=self.now))
            self.sealer.seed(contact_id, None, new=True)
            owner = AddressOwner(contact_id=contact_id, root_id=contact_id)
            self.members[contact_id] = (contact_id,)
            self.named.add(contact_id)
            self.created.add(contact_id)
        else:
            owner = found[0]
            # Most payloads name one person (every address has the same root).
            other_roots = list(dict.fromkeys(
                f.root_id for f in found if f.root_id != owner.root_id)) if len(found) > 1 else []
            if other_roots:
                # One payload proves these addresses are one person (e.g. a
                # WhatsApp user id arriving with a phone number seen before
                # on its own): merge, recorded and reversible.
                self.flush_identity()
                for loser in other_roots:
                    self.tx.merge(owner.root_id, loser, self.now, reason)
                    self.members.pop(loser, None)
                    for key, existing in list(self.owners.items()):
                        if existing.root_id == loser:
                            self.owners[key] = AddressOwner(contact_id=existing.contact_id,
                                                            root_id=owner.root_id)
                self.members.pop(owner.root_id, None)
            if name and not owner.named and owner.contact_id not in self.named:
                self.tx.set_display_name(owner.contact_id, name)
                self.named.add(owner.contact_id)
        for address, key in zip(addresses, keys, strict=True):
            if key not in self.owners:
                self.owners[key] = owner
                self.new_addresses.append((key[0], key[1], owner.contact_id, address.name))
        return owner

    def group(self, root_id: int) -> tuple[int, ...]:
        members = self.members.get(root_id)
        if members is None:
            members = self.members[root_id] = self.tx.members([root_id])[root_id]
        return members

    def load_threads(self, contact_ids: Iterable[int], channel: str, account: str) -> None:
        # Runs for every message: the common case (all loaded) builds no tuple.
        scope = self.thread_scope.setdefault((channel, account), set())
        created = self.created
        wanted = [c for c in contact_ids if c not in scope and c not in created]
        keys = self.thread_keys.get((channel, account))
        if not wanted or not keys:
            return
        for (contact_id, key), found in self.tx.threads(wanted, channel, account, keys).items():
            self.threads[(contact_id, channel, account, key)] = found
        scope.update(wanted)

    def prefetch(self, messages: Sequence[MessageEvent]) -> None:
        """Load in bulk what `thread` would otherwise ask for message by message."""
        roots = set()
        for known in self.owners.values():
            if known.merged is False:  # the store said: a group of one
                self.members[known.root_id] = (known.root_id,)
            else:
                roots.add(known.root_id)
        if roots:
            self.members.update(self.tx.members(roots))
        accounts: dict[AccountKey, set[int]] = {}
        for event in messages:
            if event.thread_key is None:
                continue
            key = (str(event.channel), event.account)
            self.thread_keys.setdefault(key, set()).add(event.thread_key)
            contacts = accounts.setdefault(key, set())
            for address in event.contact:
                owner = self.owners.get((str(address.kind), address.value))
                if owner is not None:
                    contacts.update(self.members.get(owner.root_id, (owner.root_id,)))
        for (channel, account), contacts in accounts.items():
            self.load_threads(contacts, channel, account)

    # -- threading ---------------------------------------------------------------------------
    def thread(self, event: MessageEvent, owner: AddressOwner, occurred: dt.datetime) -> int:
        channel = str(event.channel)
        known = self.known[(channel, event.account)]
        group = self.group(owner.root_id)
        parents = (*event.thread_refs, event.reply_to) if event.reply_to else event.thread_refs
        for ref in reversed(parents):
            parent = known.get(ref)
            # A parent of another customer never pulls this message into their
            # conversation (a forwarded mail, a shared newsletter).
            if parent is not None and parent.contact_id in group:
                return parent.conversation_id
        key = event.thread_key
        if key is not None:
            self.load_threads(group, channel, event.account)
            candidates = [(found, (c, channel, event.account, key)) for c in group
                          if (found := self.threads.get((c, channel, event.account, key)))]
            if candidates:
                (conversation_id, last), slot = max(candidates, key=lambda x: (x[0][1], x[0][0]))
                if event.thread_window is None or last >= occurred - event.thread_window:
                    if occurred > last:
                        self.threads[slot] = (conversation_id, occurred)
                    return conversation_id
        (conversation_id,) = self.tx.new_ids("conversations", 1)
        self.new_conversations.append(Conversation(
            id=conversation_id, contact_id=owner.contact_id, channel=event.channel,
            account=event.account, thread_key=key, subject=event.subject,
            started_at=occurred, last_activity_at=occurred))
        if key is not None:
            self.threads[(owner.contact_id, channel, event.account, key)] = (
                conversation_id, occurred)
        return conversation_id

    def open_gap(self, kind: str, channel: str, account: str, reference: str, *,
                 contact_id: int | None, detail: str) -> None:
        (gap_id,) = self.tx.new_ids("gaps", 1)
        self.gaps.append(Gap(id=gap_id, kind=kind, channel=channel, account=account,
                             reference=reference, contact_id=contact_id, opened_at=self.now,
                             detail=detail))


def _mentioned(events: Iterable[ChannelEvent]) -> dict[AccountKey, set[str]]:
    wanted: dict[AccountKey, set[str]] = {}
    for event in events:
        ids = wanted.setdefault((str(event.channel), event.account), set())
        if isinstance(event, MessageEvent):
            ids.add(event.external_id)
            ids.update(event.thread_refs)
            if event.reply_to:
                ids.add(event.reply_to)
        elif isinstance(event, UpdateEvent):
            ids.add(event.target)
        elif event.through is not None:
            ids.add(event.through)
    return wanted


def ingest(tx: Transaction, batch: Sequence[Parsed], now: dt.datetime, *, sealer: Sealer
           ) -> IngestResult:
    """Store every event of ``batch``; see the module docstring for the steps."""
    state = _Batch(tx, now, sealer)
    # The NUL rule (omnicx._scrub): every backend stores the same values.
    scrubbed = [[scrub_event(e) for e in p.events] for p in batch]
    events = [(p.raw.id if p.raw else None, e)
              for p, payload_events in zip(batch, scrubbed, strict=True) for e in payload_events]
    for key, ids in _mentioned(e for _, e in events).items():
        state.known[key], state.open_refs[key] = tx.interaction_refs_and_gaps(
            key[0], key[1], ids)
    state.owners = tx.owners(
        (str(a.kind), a.value) for _, e in events for a in e.contact)
    for owner in state.owners.values():
        if owner.head_known:  # read with the owner: the sealer need not read it again
            sealer.seed(owner.contact_id, owner.head, new=False)

    state.prefetch([e for _, e in events if isinstance(e, MessageEvent)])
    new: list[Interaction] = []
    for raw_id, event in events:
        if isinstance(event, MessageEvent):
            interaction = _message(state, event, raw_id)
            if interaction is not None:
                new.append(interaction)
    # Archived once their people are known (before the rows that reference them).
    to_archive = [sealer.raw(scrub_raw(about(p.raw, _owner(state, evs))))
                  for p, evs in zip(batch, scrubbed, strict=True)
                  if p.archive and p.raw is not None]
    if to_archive:
        tx.archive(to_archive)
    state.flush_identity()
    if state.new_conversations:
        tx.insert_conversations([
            attrs.evolve(c, last_activity_at=state.touched.pop(c.id, c.last_activity_at))
            for c in state.new_conversations])
    if new:
        sealer.prefetch(i.contact_id for i in new)
        seals = [sealer.interaction(i) for i in new]
        if tx.insert_interactions(new, seals) != len(new):
            raise ConflictError("an interaction was stored by a concurrent writer")
        # Searchable once committed, in the same transaction (omnicx._search).
        tx.index_terms([(i.id, terms) for i in new
                        if (terms := document_terms(i.subject, i.text))])
    if state.touched:  # what is left: conversations that existed before this batch
        tx.touch_conversations(state.touched)

    for interaction, address in state.watermarked:
        _behind_a_mark(state, interaction, address)
    for raw_id, event in events:
        if isinstance(event, UpdateEvent):
            _update(state, event, raw_id)
        elif isinstance(event, WatermarkEvent):
            _watermark(state, event, raw_id)
    _settle_arrivals(state, new)
    _settle_streams(state)
    if state.gaps:
        tx.open_gaps(state.gaps)
    sealer.flush()
    state.result.interactions = new
    state.result.gaps_opened += len(state.gaps)
    return state.result


def about(raw: RawPayload, contact_id: int | None) -> RawPayload:
    """``raw`` tied to ``contact_id``: what ``attrs.evolve(raw, contact_id=...)`` makes,
    without its look-up of every field by name (once per payload of a bulk import).
    tests/test_fast_paths.py checks that it copies every field."""
    if contact_id == raw.contact_id:
        return raw
    return RawPayload(id=raw.id, channel=raw.channel, account=raw.account,
                      received_at=raw.received_at, headers=raw.headers, body=raw.body,
                      state=raw.state, error=raw.error, sealed=raw.sealed,
                      contact_id=contact_id)


def _owner(state: _Batch, events: Sequence[ChannelEvent]) -> int | None:
    """The contact a payload is about (its first event's), which erasing empties it with.

    A message, new or redelivered, belongs to its interaction's contact; an
    update to its target's; any event, else, to the owner of an address it names.
    """
    for event in events:
        known = state.known.get((str(event.channel), event.account), {})
        if isinstance(event, MessageEvent):
            ref = known.get(event.external_id)
        elif isinstance(event, UpdateEvent):
            ref = known.get(event.target)
        else:  # a watermark names its contact by address
            ref = None
        if ref is not None:
            return ref.contact_id
        for address in event.contact:
            owner = state.owners.get((str(address.kind), address.value))
            if owner is not None:
                return owner.contact_id
    return None


def _message(state: _Batch, event: MessageEvent, raw_id: int | None) -> Interaction | None:
    known = state.known[(str(event.channel), event.account)]
    if event.external_id in known:
        state.result.count(raw_id, duplicate=True)
        return None
    owner = state.resolve(event.contact, event.contact_name,
                          f"linked by {event.channel!s} {event.external_id}")
    occurred = event.occurred_at or state.now
    conversation_id = state.thread(event, owner, occurred)
    (interaction_id,) = state.tx.new_ids("interactions", 1)
    interaction = new_interaction(
        event, interaction_id, owner.contact_id, conversation_id, occurred, state.now,
        raw_id or None)  # 0: History.send, no raw payload
    if event.attachment_bytes:
        interaction = state.sealer.keep_attachments(interaction, event.attachment_bytes)
    known[event.external_id] = InteractionRef(id=interaction_id, contact_id=owner.contact_id,
                                              conversation_id=conversation_id,
                                              occurred_at=occurred)
    last = state.touched.get(conversation_id)
    if last is None or occurred > last:
        state.touched[conversation_id] = occurred
    if event.reply_to and event.reply_to not in known:
        state.open_gap(MISSING_PARENT, str(event.channel), event.account, event.reply_to,
                       contact_id=owner.contact_id, detail=f"{event.external_id} replies to it")
    if event.sequence is not None:
        _advance_stream(state, event, event.sequence, owner.contact_id)
    if event.watermarked and event.direction == Direction.OUTBOUND:
        state.watermarked.append((interaction, event.contact[0]))
    return interaction


def new_interaction(event: MessageEvent, interaction_id: int, contact_id: int,
                    conversation_id: int, occurred: dt.datetime, received: dt.datetime,
                    raw_id: int | None) -> Interaction:
    """The `Interaction` a new message becomes: what ``Interaction(...)`` of these values
    makes (``occurred`` and ``received`` aware UTC), without running its converters
    again (`omnicx._models.InteractionTwin`). tests/test_fast_paths.py checks both,
    field by field."""
    item = object.__new__(InteractionTwin)
    item.id = interaction_id
    item.contact_id = contact_id
    item.conversation_id = conversation_id
    item.channel = event.channel
    item.account = event.account
    item.external_id = event.external_id
    item.direction = event.direction
    item.kind = event.kind
    item.message_type = event.message_type
    item.occurred_at = occurred
    item.received_at = received
    item.sender = event.sender
    item.recipients = event.recipients
    item.subject = event.subject
    item.text = event.text
    item.html = event.html
    item.attachments = event.attachments
    item.reply_to = event.reply_to
    item.status = event.status
    item.data = event.data
    item.raw_id = raw_id
    item.erased = False
    item.__class__ = Interaction
    return cast(Interaction, item)


def _stream_cursor(channel: str, account: str, stream: str) -> str:
    return f"seq:{channel}:{account}:{stream}"


def stream_reference(stream: str, number: int) -> str:
    """The gap reference of a missing stream number: ``"<stream>#<number>"``."""
    return f"{stream}#{number}"


def _advance_stream(state: _Batch, event: MessageEvent, position: StreamPosition,
                    contact_id: int) -> None:
    """Move a stream's high-water mark; open a gap for every number skipped."""
    channel = str(event.channel)
    name = _stream_cursor(channel, event.account, position.stream)
    if name not in state.streams:
        stored = state.tx.cursor(name)
        state.streams[name] = state.stored_streams[name] = (
            int(stored) if stored is not None else None)
    high = state.streams[name]
    number = position.number
    reference = stream_reference(position.stream, number)
    state.stream_arrivals.setdefault((channel, event.account), []).append(reference)
    stored_high = state.stored_streams[name]
    if stored_high is not None and number <= stored_high:
        # Only a number below the mark the batch found can have a gap in the
        # store (gaps open below a new mark, with the cursor read under its lock).
        state.stream_fills.setdefault((channel, event.account), []).append(reference)
    if high is not None and number <= high:
        return  # fills a hole (its gap closes) or repeats a number
    start = (high + 1 if high is not None
             else position.first if position.first is not None else number)
    state.streams[name] = number
    if number - start > MAX_HOLE_GAPS:
        state.open_gap(position.gap_kind, channel, event.account,
                       f"{position.stream}#{start}-{number - 1}", contact_id=contact_id,
                       detail=f"{number - start} numbers skipped before {event.external_id}")
        return
    for missing in range(start, number):
        state.open_gap(position.gap_kind, channel, event.account,
                       stream_reference(position.stream, missing), contact_id=contact_id,
                       detail=f"skipped before {event.external_id} (#{number})")


def _settle_streams(state: _Batch) -> None:
    """Save the streams' high-water marks and close the holes this batch filled."""
    for name, high in state.streams.items():
        if high is not None:
            state.tx.set_cursor(name, str(high), state.now)
    for (channel, account), refs in state.stream_arrivals.items():
        arrived = set(refs)
        kept = [g for g in state.gaps
                if not (g.channel.value == channel and g.account == account
                        and g.reference in arrived)]
        state.gaps = kept
    for (channel, account), refs in state.stream_fills.items():
        state.result.gaps_closed += state.tx.close_gaps(channel, account, refs, state.now)


def _update(state: _Batch, event: UpdateEvent, raw_id: int | None) -> None:
    channel = str(event.channel)
    target = state.known[(channel, event.account)].get(event.target)
    (event_id,) = state.tx.new_ids("events", 1)
    record = EventRecord(
        id=event_id, interaction_id=target.id if target else None, channel=channel,
        account=event.account, external_id=event.target, event_id=event.event_id,
        kind=event.kind, status=event.status, occurred_at=event.occurred_at or state.now,
        received_at=state.now, error=event.error, data=event.data, raw_id=raw_id)
    contact_id = target.contact_id if target else None
    seal = state.sealer.event(record, contact_id)
    if not state.tx.insert_events([record], [seal]):
        state.result.count(raw_id, duplicate=True)
        return
    state.sealer.commit(contact_id, seal)
    state.result.count(raw_id, duplicate=False)
    if target is None:
        owner = next((state.owners[(str(a.kind), a.value)] for a in event.contact
                      if (str(a.kind), a.value) in state.owners), None)
        kind = STATUS_WITHOUT_MESSAGE if event.kind == EventKind.STATUS else MISSING_PARENT
        state.open_gap(kind, channel, event.account, event.target,
                       contact_id=owner.contact_id if owner else None,
                       detail=f"{event.kind!s} {event.event_id} arrived before the message")
    elif event.kind == EventKind.STATUS and event.status is not None:
        state.tx.advance_status(target.id, str(event.status), status_rank(event.status))


def _watermark(state: _Batch, event: WatermarkEvent, raw_id: int | None) -> None:
    """Move every outbound interaction of the contact behind the mark to ``event.status``.

    Each one gets a status event ``watermark:<status>`` (idempotent: a
    redelivered or lower watermark adds nothing) and its status moves forward
    only. The contact's whole merge group counts: a message sent to a merged
    contact's other address on this channel is theirs as well.
    """
    channel = str(event.channel)
    up_to = event.up_to
    if event.through is not None:
        ref = state.known[(channel, event.account)].get(event.through)
        if ref is None:
            return
        up_to = ref.occurred_at
    assert up_to is not None
    # Kept (forward only) for outbound messages whose webhook comes after the mark.
    name = _mark_name(channel, event.account, event.contact[0], str(event.status))
    saved = state.tx.cursor(name)
    if saved is None or int(saved) < to_micros(up_to):
        state.tx.set_cursor(name, str(to_micros(up_to)), state.now)
    owner = next((state.owners[(str(a.kind), a.value)] for a in event.contact
                  if (str(a.kind), a.value) in state.owners), None)
    if owner is None:
        return  # nobody we ever wrote to: nothing to mark yet
    rank = status_rank(event.status)
    targets = state.tx.outbound_behind(state.group(owner.root_id), channel, event.account,
                                       up_to, rank)
    if not targets:
        return
    ids = state.tx.new_ids("events", len(targets))
    at = event.occurred_at or state.now
    data = {"watermark": up_to.isoformat(), **event.data}
    for event_id, (interaction_id, external_id, contact_id) in zip(ids, targets, strict=True):
        record = EventRecord(
            id=event_id, interaction_id=interaction_id, channel=channel, account=event.account,
            external_id=external_id, event_id=f"watermark:{event.status}", kind=EventKind.STATUS,
            status=event.status, occurred_at=at, received_at=state.now, data=data, raw_id=raw_id)
        seal = state.sealer.event(record, contact_id)
        if state.tx.insert_events([record], [seal]):
            state.sealer.commit(contact_id, seal)
            state.result.updates += 1
        state.tx.advance_status(interaction_id, str(event.status), rank)


def _mark_name(channel: str, account: str, address: Address, status: str) -> str:
    return f"watermark:{channel}:{account}:{address.kind}:{address.value}:{status}"


def to_micros(at: dt.datetime) -> int:
    return round(at.timestamp() * 1_000_000)


def _behind_a_mark(state: _Batch, interaction: Interaction, address: Address) -> None:
    """Apply the best watermark stored before this outbound interaction arrived."""
    occurred = to_micros(interaction.occurred_at)
    for status in (Status.READ, Status.DELIVERED):
        saved = state.tx.cursor(_mark_name(str(interaction.channel), interaction.account,
                                           address, status.value))
        if saved is None or int(saved) < occurred:
            continue
        (event_id,) = state.tx.new_ids("events", 1)
        record = EventRecord(
            id=event_id, interaction_id=interaction.id, channel=str(interaction.channel),
            account=interaction.account, external_id=interaction.external_id,
            event_id=f"watermark:{status.value}", kind=EventKind.STATUS, status=status,
            occurred_at=state.now, received_at=state.now,
            data={"watermark": from_micros(int(saved)).isoformat(), "late": True})
        seal = state.sealer.event(record, interaction.contact_id)
        if state.tx.insert_events([record], [seal]):
            state.sealer.commit(interaction.contact_id, seal)
            state.result.updates += 1
        state.tx.advance_status(interaction.id, status.value, status_rank(status))
        return


def from_micros(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1_000_000, dt.UTC)


def _settle_arrivals(state: _Batch, new: Sequence[Interaction]) -> None:
    """Close the gaps new interactions fill, and apply the updates that waited for them."""
    by_account: dict[AccountKey, list[Interaction]] = {}
    for interaction in new:
        by_account.setdefault((str(interaction.channel), interaction.account), []).append(
            interaction)
    for (channel, account), items in by_account.items():
        # Gaps opened earlier in this very batch are not in the database yet.
        arrived = {i.external_id for i in items}
        state.gaps = [g for g in state.gaps
                      if not (str(g.channel) == channel and g.account == account
                              and g.reference in arrived)]
        # Those in the database were seen by the lookup (updates that wait for a
        # message always open one), so most batches close nothing and skip this.
        open_refs = state.open_refs.get((channel, account), set())
        filling = [i for i in items if i.external_id in open_refs]
        if not filling:
            continue
        state.result.gaps_closed += state.tx.close_gaps(
            channel, account, [i.external_id for i in filling], state.now)
        for interaction in filling:
            attach_waiting(state.tx, state.sealer, interaction, interaction.external_id)


def attach_waiting(tx: Transaction, sealer: Sealer, interaction: Interaction,
                   external_id: str) -> None:
    """Attach the updates that arrived before ``external_id`` and apply their statuses.

    They join the interaction's contact's chain now, in arrival order.
    """
    interaction_id = interaction.id
    waiting = tx.pending_events(interaction.channel.value, interaction.account, external_id)
    if not waiting:
        return
    tx.attach_events([e.id for e in waiting], interaction_id)
    tx.chain_events(sealer.attach(sorted(waiting, key=lambda e: e.id), interaction_id,
                                  interaction.contact_id))
    best = max((e for e in waiting if e.kind == EventKind.STATUS and e.status is not None),
               key=lambda e: status_rank(e.status), default=None)
    if best is not None and best.status is not None:
        tx.advance_status(interaction_id, str(best.status), status_rank(best.status))


def record_events(tx: Transaction, sealer: Sealer, records: Sequence[EventRecord],
                  contact_id: int) -> list[int]:
    """Insert events on a known interaction of ``contact_id`` outside `ingest` (sends)."""
    inserted = []
    for record in records:
        seal = sealer.event(record, contact_id)
        if tx.insert_events([record], [seal]):
            sealer.commit(contact_id, seal)
            inserted.append(record.id)
    return inserted
