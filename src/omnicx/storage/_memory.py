"""`MemoryStore`: the whole `Transaction` protocol in plain Python dicts.

For tests, demos and short-lived tools: nothing survives the process. It has
exactly the semantics of the SQL backends (the conformance suite holds it to
them): inserts that hit a unique key are skipped and not counted (``ON
CONFLICT DO NOTHING``), statuses only move forward, ``merged_into`` always
points at a root, timelines are ordered by ``(occurred_at, id)`` descending.
Interactions are even stored in their SQL row form (`omnicx.storage._sql`
encodes and decodes them), so what comes back is what a database returns.

`MemoryStore.atomic` is all-or-nothing through an undo log: every change a
transaction makes records how to reverse it, and a unit of work that raises
is rolled back before the exception propagates. One lock serialises
transactions, like SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs

from .._chain import content_columns, dumps
from .._enums import Direction
from .._errors import ConflictError, StorageError
from .._models import Contact, Conversation, Interaction
from .._tenancy import close_tenants, scoped_store, tenant_registry
from ._base import (
    ActivityRow,
    AddressOwner,
    Capabilities,
    ChainRows,
    EventRecord,
    Gap,
    InteractionRef,
    RawPayload,
    RowSeal,
    SearchQuery,
    TimelineQuery,
    Transaction,
)
from ._feedmemory import FeedMemory, FeedTables
from ._sql import from_us, interaction_from_row, interaction_row, stored_address, to_us

__all__ = ["MemoryStore"]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

_ABSENT: Any = object()

# Positions in the SQL row form of an interaction (see `_sql.interaction_row`), plus
# ``origin_id`` appended at the end.
_EXTERNAL_ID, _OCCURRED_AT, _STATUS, _STATUS_RANK = 5, 9, 20, 21
_ERASED_AT, _SEALED, _ORIGIN_STATUS, _ORIGIN = 24, 25, 30, 31
_CONTENT = (11, 12, 13, 14, 15, 16, 17, 18, 22)  # the nine content columns
_ERASABLE = (12, 13, 14, 15, 16, 17, 18, 22, _SEALED)  # all of them but sender_kind


@attrs.define
class _ContactRow:
    id: int
    display_name: str | None
    crm_id: str | None
    created_at: dt.datetime
    merged_into: int | None = None
    erased_at: dt.datetime | None = None
    chain_head: bytes | None = None
    data_key: bytes | None = None


@attrs.define
class _EventChain:
    """The columns of an event row that `EventRecord` does not carry."""

    data: str | None
    seq: int | None = None
    hash: bytes | None = None
    prev_hash: bytes | None = None
    erased_at: int | None = None


@attrs.define
class _MergeRow:
    winner_id: int
    loser_id: int
    merged_at: dt.datetime
    unmerged_at: dt.datetime | None
    reason: str | None


class _Tables:
    """The rows of a memory store, plus the undo log of the running transaction."""

    def __init__(self) -> None:
        self.sequences: dict[str, int] = {}
        self.raw: dict[int, RawPayload] = {}
        self.contacts: dict[int, _ContactRow] = {}
        self.addresses: dict[tuple[str, str], tuple[int, str | None, dt.datetime]] = {}
        self.merges: dict[int, _MergeRow] = {}
        self.conversations: dict[int, Conversation] = {}
        self.interactions: dict[int, list[Any]] = {}
        self.interaction_keys: dict[tuple[str, str, str], int] = {}
        self.by_contact: dict[int, set[int]] = {}
        self.events: dict[int, EventRecord] = {}
        self.event_keys: dict[tuple[str, str, str, str], int] = {}
        self.gaps: dict[int, Gap] = {}
        self.gap_keys: dict[tuple[str, str, str, str], int] = {}
        self.cursors: dict[str, tuple[str, dt.datetime]] = {}
        self.settings: dict[str, str] = {}
        self.kpi_summaries: dict[int, str] = {}
        self.event_chain: dict[int, _EventChain] = {}
        self.erasures: dict[int, tuple[Any, ...]] = {}
        self.address_seals: dict[tuple[str, str], bytes] = {}
        self.search_terms: dict[int, tuple[str, ...]] = {}
        self.feed = FeedTables()
        self.undo: list[Callable[[], object]] | None = None

    def put(self, table: dict[K, V], key: K, value: V) -> None:
        """``table[key] = value``, reversibly."""
        if self.undo is None:
            raise StorageError("memory store: write outside a transaction")
        previous = table.get(key, _ABSENT)
        if previous is _ABSENT:
            self.undo.append(lambda: table.pop(key, None))
        else:
            self.undo.append(lambda: table.__setitem__(key, previous))
        table[key] = value

    def remove(self, table: dict[K, V], key: K) -> None:
        """``del table[key]``, reversibly."""
        if self.undo is None:
            raise StorageError("memory store: write outside a transaction")
        previous = table.pop(key)
        self.undo.append(lambda: table.__setitem__(key, previous))

    def change(self, row: Any, **values: Any) -> None:
        """Set attributes of a mutable row, reversibly."""
        if self.undo is None:
            raise StorageError("memory store: write outside a transaction")
        previous = {name: getattr(row, name) for name in values}

        def restore() -> None:
            for name, value in previous.items():
                setattr(row, name, value)

        self.undo.append(restore)
        for name, value in values.items():
            setattr(row, name, value)

    def add_to_set(self, table: dict[int, set[int]], key: int, member: int) -> None:
        if self.undo is None:
            raise StorageError("memory store: write outside a transaction")
        bucket = table.setdefault(key, set())
        if member not in bucket:
            bucket.add(member)
            self.undo.append(lambda: bucket.discard(member))

    def rollback(self) -> None:
        undo, self.undo = self.undo or [], None
        for step in reversed(undo):
            step()


def _bm25(terms: Sequence[str], present: set[str], frequency: Mapping[str, int],
          count: int, average: float) -> float:
    """Okapi BM25 (k1 = 1.2, b = 0.75) with FTS5's inverse document frequency."""
    score = 0.0
    norm = 1.2 * (0.25 + 0.75 * len(terms) / average)
    for term in present:
        tf = terms.count(term)
        n = frequency[term]
        idf = max(math.log((count - n + 0.5) / (n + 0.5)), 1e-6)
        score += idf * tf * 2.2 / (tf + norm)
    return score


class _MemoryTransaction(FeedMemory):
    """`Transaction` over `_Tables`; writes go through the undo log."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    # -- ids -----------------------------------------------------------------------------
    def new_ids(self, table: str, count: int) -> Sequence[int]:
        start = self._t.sequences.get(table, 0) + 1
        self._t.put(self._t.sequences, table, start + count - 1)
        return range(start, start + count)

    # -- raw archive ---------------------------------------------------------------------
    def archive(self, payloads: Sequence[RawPayload]) -> None:
        for payload in payloads:
            if payload.id in self._t.raw:
                raise StorageError(f"raw payload #{payload.id} exists")
        for payload in payloads:
            self._t.put(self._t.raw, payload.id, attrs.evolve(
                payload, headers=dict(payload.headers), body=bytes(payload.body)))

    def set_raw_state(self, raw_id: int, state: str, error: str | None) -> None:
        found = self._t.raw.get(raw_id)
        if found is not None:
            self._t.put(self._t.raw, raw_id, attrs.evolve(found, state=state, error=error))

    def raw(self, raw_id: int) -> RawPayload | None:
        return self._t.raw.get(raw_id)

    def raws(self, state: str) -> list[RawPayload]:
        return [p for _, p in sorted(self._t.raw.items()) if p.state == state]

    # -- contacts --------------------------------------------------------------------------
    def owners(self, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AddressOwner]:
        found: dict[tuple[str, str], AddressOwner] = {}
        for key in addresses:
            row = self._t.addresses.get(key)
            if row is not None:
                contact = self._t.contacts[row[0]]
                found[key] = AddressOwner(contact_id=contact.id,
                                          root_id=contact.merged_into or contact.id,
                                          named=contact.display_name is not None,
                                          head=contact.chain_head, head_known=True)
        return found

    def insert_contacts(self, contacts: Sequence[Contact]) -> None:
        for c in contacts:
            if c.id in self._t.contacts:
                raise StorageError(f"contact #{c.id} exists")
            if c.crm_id is not None:
                self._claim_crm(c.crm_id, c.id)
            self._t.put(self._t.contacts, c.id, _ContactRow(
                id=c.id, display_name=c.display_name, crm_id=c.crm_id,
                created_at=c.created_at))

    def insert_addresses(
        self, rows: Sequence[tuple[str, str, int, str | None]], at: dt.datetime
    ) -> int:
        inserted = 0
        for kind, value, contact_id, name in rows:
            if (kind, value) in self._t.addresses:
                continue
            self._contact_row(contact_id)
            self._t.put(self._t.addresses, (kind, value), (contact_id, name, at))
            inserted += 1
        return inserted

    def set_display_name(self, contact_id: int, name: str) -> None:
        row = self._t.contacts.get(contact_id)
        if row is not None and row.display_name is None:
            self._t.change(row, display_name=name)

    def contact(self, contact_id: int) -> Contact | None:
        row = self._t.contacts.get(contact_id)
        return None if row is None else self._contact(row)

    def _contact(self, row: _ContactRow) -> Contact:
        owned = sorted(
            ((created, kind, value, name)
             for (kind, value), (owner, name, created) in self._t.addresses.items()
             if owner == row.id),
            key=lambda a: (a[0], a[1], a[2]))
        return Contact(id=row.id, display_name=row.display_name, crm_id=row.crm_id,
                       created_at=row.created_at, merged_into=row.merged_into,
                       erased=row.erased_at is not None,
                       addresses=tuple(stored_address(k, v, n) for _, k, v, n in owned))

    def _contact_row(self, contact_id: int) -> _ContactRow:
        row = self._t.contacts.get(contact_id)
        if row is None:  # what a foreign key does in SQL
            raise StorageError(f"no contact #{contact_id}")
        return row

    def contacts(self, after: int = 0) -> Iterator[Contact]:
        for contact_id in sorted(i for i in self._t.contacts if i > after):
            row = self._t.contacts.get(contact_id)
            if row is not None and row.merged_into is None:
                yield self._contact(row)

    def group(self, contact_id: int) -> tuple[int, ...] | None:
        row = self._t.contacts.get(contact_id)
        if row is None:
            return None
        root = row.merged_into or row.id
        return self.members([root])[root]

    def members(self, root_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        merged: dict[int, list[int]] = {root: [] for root in root_ids}
        for contact_id in sorted(self._t.contacts):
            root = self._t.contacts[contact_id].merged_into
            if root in merged:
                merged[root].append(contact_id)
        return {root: (root, *others) for root, others in merged.items()}

    def merge(self, winner_id: int, loser_id: int, at: dt.datetime, reason: str | None) -> None:
        winner, loser = self._contact_row(winner_id), self._contact_row(loser_id)
        if winner.merged_into is not None or loser.merged_into is not None:
            raise ConflictError(f"contact #{winner_id} or #{loser_id} is no longer a root")
        (merge_id,) = self.new_ids("merges", 1)
        self._t.put(self._t.merges, merge_id, _MergeRow(
            winner_id=winner_id, loser_id=loser_id, merged_at=at, unmerged_at=None,
            reason=reason))
        # Keep merged_into pointing at the root, so a lookup is one step deep.
        for row in list(self._t.contacts.values()):
            if row.merged_into == loser_id:
                self._t.change(row, merged_into=winner_id)
        self._t.change(loser, merged_into=winner_id)

    def unmerge(self, winner_id: int, loser_id: int, at: dt.datetime) -> None:
        loser = self._t.contacts.get(loser_id)
        if loser is None or loser.merged_into != winner_id:
            raise ConflictError(f"contact #{loser_id} is no longer merged into #{winner_id}")
        for merge in self._t.merges.values():
            if (merge.winner_id, merge.loser_id) == (winner_id, loser_id) \
                    and merge.unmerged_at is None:
                self._t.change(merge, unmerged_at=at)
        self._t.change(loser, merged_into=None)
        # Contacts that had been merged into the loser go back with it.
        went_with_loser = {m.loser_id for m in self._t.merges.values()
                           if m.winner_id == loser_id and m.unmerged_at is None}
        for row in list(self._t.contacts.values()):
            if row.merged_into == winner_id and row.id in went_with_loser:
                self._t.change(row, merged_into=loser_id)

    def _claim_crm(self, crm_id: str, contact_id: int) -> None:
        other = self.contact_by_crm(crm_id)
        if other is not None and other != contact_id:  # what UNIQUE (crm_id) does in SQL
            raise StorageError(f"CRM id {crm_id!r} is already linked to #{other}")

    def link_crm(self, contact_id: int, crm_id: str) -> None:
        row = self._t.contacts.get(contact_id)
        if row is not None:
            self._claim_crm(crm_id, contact_id)
            self._t.change(row, crm_id=crm_id)

    def contact_by_crm(self, crm_id: str) -> int | None:
        return next((c.id for c in self._t.contacts.values() if c.crm_id == crm_id), None)

    # -- conversations ---------------------------------------------------------------------
    def threads(
        self, contact_ids: Iterable[int], channel: str, account: str, thread_keys: Iterable[str]
    ) -> dict[tuple[int, str], tuple[int, dt.datetime]]:
        ids, keys = set(contact_ids), set(thread_keys)
        found: dict[tuple[int, str], tuple[int, dt.datetime]] = {}
        for c in self._t.conversations.values():
            if (c.contact_id in ids and c.thread_key in keys and str(c.channel) == channel
                    and c.account == account):
                slot = (c.contact_id, c.thread_key)
                best = found.get(slot)
                if best is None or (c.last_activity_at, c.id) > (best[1], best[0]):
                    found[slot] = (c.id, c.last_activity_at)
        return found

    def insert_conversations(self, conversations: Sequence[Conversation]) -> None:
        for c in conversations:
            if c.id in self._t.conversations:
                raise StorageError(f"conversation #{c.id} exists")
            self._contact_row(c.contact_id)
            self._t.put(self._t.conversations, c.id, c)

    def touch_conversations(self, last_activity: Mapping[int, dt.datetime]) -> None:
        for conversation_id, at in last_activity.items():
            found = self._t.conversations.get(conversation_id)
            if found is not None and found.last_activity_at < at:
                self._t.put(self._t.conversations, conversation_id,
                            attrs.evolve(found, last_activity_at=at))

    def conversation(self, conversation_id: int) -> Conversation | None:
        return self._t.conversations.get(conversation_id)

    # -- interactions ----------------------------------------------------------------------
    def interaction_refs(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> dict[str, InteractionRef]:
        found: dict[str, InteractionRef] = {}
        for ext in external_ids:
            iid = self._t.interaction_keys.get((channel, account, ext))
            if iid is not None:
                row = self._t.interactions[iid]
                found[ext] = InteractionRef(id=iid, contact_id=row[1], conversation_id=row[2],
                                            occurred_at=from_us(row[_OCCURRED_AT]))
        return found

    def interaction_refs_and_gaps(
        self, channel: str, account: str, external_ids: Iterable[str]
    ) -> tuple[dict[str, InteractionRef], set[str]]:
        wanted = set(external_ids)
        return self.interaction_refs(channel, account, wanted), {
            gap.reference for gap in self._t.gaps.values()
            if gap.closed_at is None and gap.reference in wanted
            and gap.channel.value == channel and gap.account == account}

    def insert_interactions(
        self, interactions: Sequence[Interaction], seals: Sequence[RowSeal] | None = None
    ) -> int:
        if seals is None:
            seals = [RowSeal(columns=content_columns(i)) for i in interactions]
        inserted = 0
        for item, seal in zip(interactions, seals, strict=True):
            key = (item.channel.value, item.account, item.external_id)
            if key in self._t.interaction_keys:
                continue
            if item.id in self._t.interactions:
                raise StorageError(f"interaction #{item.id} exists")
            self._contact_row(item.contact_id)
            if item.conversation_id not in self._t.conversations:
                raise StorageError(f"no conversation #{item.conversation_id}")
            self._t.put(self._t.interactions, item.id, [*interaction_row(item, seal), None])
            self._t.put(self._t.interaction_keys, key, item.id)
            self._t.add_to_set(self._t.by_contact, item.contact_id, item.id)
            inserted += 1
        return inserted

    def advance_status(self, interaction_id: int, status: str, rank: int) -> bool:
        row = self._t.interactions.get(interaction_id)
        if row is None or row[_STATUS_RANK] >= rank:
            return False
        updated = list(row)
        updated[_STATUS], updated[_STATUS_RANK] = status, rank
        self._t.put(self._t.interactions, interaction_id, updated)
        return True

    def assign_external_id(self, interaction_id: int, external_id: str) -> None:
        row = self._t.interactions.get(interaction_id)
        if row is None:
            return
        old_key = (row[3], row[4], row[_EXTERNAL_ID])
        new_key = (row[3], row[4], external_id)
        if new_key == old_key:
            return
        if new_key in self._t.interaction_keys:
            raise StorageError(f"external id {external_id!r} is taken")
        updated = list(row)
        if updated[_ORIGIN] is None:  # the chain covers the first id (omnicx._chain)
            updated[_ORIGIN] = row[_EXTERNAL_ID]
        updated[_EXTERNAL_ID] = external_id
        self._t.put(self._t.interactions, interaction_id, updated)
        self._t.put(self._t.interaction_keys, new_key, interaction_id)
        self._t.remove(self._t.interaction_keys, old_key)

    def interaction(self, interaction_id: int) -> Interaction | None:
        row = self._t.interactions.get(interaction_id)
        return None if row is None else interaction_from_row(row)

    def timeline(self, query: TimelineQuery) -> list[Interaction]:
        before = None if query.before is None else (to_us(query.before[0]), query.before[1])
        since = None if query.since is None else to_us(query.since)
        until = None if query.until is None else to_us(query.until)
        contact_ids = query.contact_ids
        if query.group_of is not None:
            contact_ids = self.group(query.group_of) or ()
        rows = []
        for contact_id in set(contact_ids):
            for iid in self._t.by_contact.get(contact_id, ()):
                row = self._t.interactions[iid]
                at = row[_OCCURRED_AT]
                if before is not None and (at, iid) >= before:
                    continue
                if since is not None and at < since:
                    continue
                if until is not None and at >= until:
                    continue
                if query.channels and row[3] not in query.channels:
                    continue
                rows.append(row)
        rows.sort(key=lambda r: (r[_OCCURRED_AT], r[0]), reverse=True)
        return [interaction_from_row(r) for r in rows[: query.limit]]

    # -- search: BM25 over every indexed row, as FTS5 ranks (for tests, not for speed) --
    def index_terms(self, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
        for iid, terms in rows:
            self._t.put(self._t.search_terms, iid, tuple(terms))

    def unindex_erased(self, contact_ids: Sequence[int]) -> int:
        dropped = 0
        for contact_id in contact_ids:
            for iid in sorted(self._t.by_contact.get(contact_id, ())):
                if (iid in self._t.search_terms
                        and self._t.interactions[iid][_ERASED_AT] is not None):
                    self._t.remove(self._t.search_terms, iid)
                    dropped += 1
        return dropped

    def search(self, query: SearchQuery) -> list[tuple[Interaction, float]]:
        index = self._t.search_terms
        if not index:
            return []
        wanted = {term for group in query.words for term in group}
        frequency: dict[str, int] = dict.fromkeys(wanted, 0)
        for terms in index.values():
            for term in wanted.intersection(terms):
                frequency[term] += 1
        count, average = len(index), sum(map(len, index.values())) / len(index)
        since = None if query.since is None else to_us(query.since)
        until = None if query.until is None else to_us(query.until)
        contacts = set(query.contact_ids)
        found: list[tuple[float, list[Any]]] = []
        for iid, terms in index.items():
            present = wanted.intersection(terms)
            if not all(present.intersection(group) for group in query.words):
                continue
            row = self._t.interactions[iid]
            at = row[_OCCURRED_AT]
            if (row[_ERASED_AT] is not None or (contacts and row[1] not in contacts)
                    or (query.channels and row[3] not in query.channels)
                    or (since is not None and at < since) or (until is not None and at >= until)):
                continue
            found.append((_bm25(terms, present, frequency, count, average), row))
        found.sort(key=lambda f: (-f[0], -f[1][0]))
        return [(interaction_from_row(row), score) for score, row in found[: query.limit]]

    def last_inbound(
        self, contact_ids: Sequence[int], channel: str, account: str
    ) -> dt.datetime | None:
        times = [
            row[_OCCURRED_AT]
            for contact_id in set(contact_ids)
            for row in (self._t.interactions[i] for i in self._t.by_contact.get(contact_id, ()))
            if row[3] == channel and row[4] == account and row[6] == Direction.INBOUND.value
        ]
        return from_us(max(times)) if times else None

    def outbound_behind(
        self, contact_ids: Sequence[int], channel: str, account: str, until: dt.datetime,
        rank: int,
    ) -> list[tuple[int, str, int]]:
        limit = to_us(until)
        rows = [
            row
            for contact_id in set(contact_ids)
            for row in (self._t.interactions[i] for i in self._t.by_contact.get(contact_id, ()))
            if row[3] == channel and row[4] == account and row[6] == Direction.OUTBOUND.value
            and row[_OCCURRED_AT] <= limit and row[_STATUS_RANK] < rank
        ]
        rows.sort(key=lambda row: (row[_OCCURRED_AT], row[0]))
        return [(row[0], row[_EXTERNAL_ID], row[1]) for row in rows]

    # -- events ----------------------------------------------------------------------------
    def insert_events(self, events: Sequence[EventRecord],
                      seals: Sequence[RowSeal] | None = None) -> list[int]:
        if seals is None:
            seals = [RowSeal(columns=(dumps(dict(e.data)),)) for e in events]
        inserted = []
        for e, seal in zip(events, seals, strict=True):
            key = (e.channel, e.account, e.external_id, e.event_id)
            if key in self._t.event_keys:
                continue
            if e.id in self._t.events:
                raise StorageError(f"event #{e.id} exists")
            data, *moved = seal.columns  # see _sql.SqlTransaction.insert_events
            self._t.put(self._t.events, e.id, attrs.evolve(
                e, data=json.loads(data) if data else {}, digest=seal.digest,
                sealed=seal.sealed, error=moved[0] if moved else e.error))
            self._t.put(self._t.event_chain, e.id, _EventChain(
                data=data, seq=seal.seq, hash=seal.hash, prev_hash=seal.prev_hash))
            self._t.put(self._t.event_keys, key, e.id)
            inserted.append(e.id)
        return inserted

    def pending_events(self, channel: str, account: str, external_id: str) -> list[EventRecord]:
        found = [e for e in self._t.events.values()
                 if e.interaction_id is None and e.channel == channel and e.account == account
                 and e.external_id == external_id]
        return sorted(found, key=lambda e: (e.occurred_at, e.id))

    def attach_events(self, event_ids: Sequence[int], interaction_id: int) -> None:
        for event_id in event_ids:
            found = self._t.events.get(event_id)
            if found is not None:
                self._t.put(self._t.events, event_id,
                            attrs.evolve(found, interaction_id=interaction_id))

    def events(self, interaction_id: int) -> list[EventRecord]:
        found = [e for e in self._t.events.values() if e.interaction_id == interaction_id]
        return sorted(found, key=lambda e: (e.occurred_at, e.id))

    # -- service insight ---------------------------------------------------------------------
    def first_interaction(self, conversation_id: int) -> int | None:
        rows = [(row[_OCCURRED_AT], iid) for iid, row in self._t.interactions.items()
                if row[2] == conversation_id]
        return min(rows)[1] if rows else None

    def activity(self, until: dt.datetime | None, *,
                 conversation_ids: Sequence[int] | None = None) -> Iterator[ActivityRow]:
        limit = None if until is None else to_us(until)
        wanted = None if conversation_ids is None else set(conversation_ids)
        rows = [(iid, row[2], row[1], row[3], row[6], row[7], row[8], row[_OCCURRED_AT])
                for iid, row in self._t.interactions.items()
                if (limit is None or row[_OCCURRED_AT] < limit)
                and (wanted is None or row[2] in wanted)]
        rows.sort(key=lambda r: (r[1], r[7], r[0]))
        return iter(rows)

    def conversation_events(self, conversation_ids: Sequence[int] | None = None
                            ) -> list[tuple[int, EventRecord]]:
        wanted = None if conversation_ids is None else set(conversation_ids)
        found = []
        for event in self._t.events.values():
            if event.kind == "conversation" and event.interaction_id is not None:
                row = self._t.interactions[event.interaction_id]
                if wanted is None or row[2] in wanted:
                    found.append((row[1], event))
        return sorted(found, key=lambda pair: (pair[1].occurred_at, pair[1].id))

    def merged_contacts(self) -> dict[int, int]:
        return {c.id: c.merged_into for c in self._t.contacts.values()
                if c.merged_into is not None}

    def kpi_summaries(self) -> Iterator[tuple[int, str]]:
        return iter(list(self._t.kpi_summaries.items()))

    def store_kpi_summaries(self, rows: Sequence[tuple[int, str]], *, replace: bool) -> None:
        if replace:
            for conversation_id in list(self._t.kpi_summaries):
                self._t.remove(self._t.kpi_summaries, conversation_id)
        for conversation_id, summary in rows:
            self._t.put(self._t.kpi_summaries, conversation_id, summary)

    def chain_events(self, links: Sequence[tuple[int, int, bytes, bytes]]) -> None:
        for event_id, seq, hashed, prev in links:
            found = self._t.event_chain.get(event_id)
            if found is not None:
                self._t.change(found, seq=seq, hash=hashed, prev_hash=prev)

    # -- integrity and privacy --------------------------------------------------------------
    def setting(self, name: str) -> str | None:
        return self._t.settings.get(name)

    def set_setting(self, name: str, value: str) -> None:
        self._t.put(self._t.settings, name, value)

    def chain_heads(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]:
        return {c: self._t.contacts[c].chain_head for c in contact_ids if c in self._t.contacts}

    def set_chain_heads(self, heads: Mapping[int, bytes]) -> None:
        for contact_id, head in heads.items():
            self._t.change(self._contact_row(contact_id), chain_head=head)

    def data_keys(self, contact_ids: Iterable[int]) -> dict[int, bytes | None]:
        return {c: self._t.contacts[c].data_key for c in contact_ids if c in self._t.contacts}

    def set_data_keys(self, keys: Mapping[int, bytes]) -> None:
        for contact_id, key in keys.items():
            self._t.change(self._contact_row(contact_id), data_key=key)

    def wrapped_keys(self) -> Iterator[tuple[int, bytes]]:
        for contact_id in sorted(self._t.contacts):
            key = self._t.contacts[contact_id].data_key
            if key is not None:
                yield contact_id, key

    def sealed(self, interaction_ids: Iterable[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for iid in interaction_ids:
            row = self._t.interactions.get(iid)
            if row is not None and row[_SEALED] is not None:
                found[iid] = row[_SEALED]
        return found

    def chain_rows(self, contact_ids: Sequence[int]) -> ChainRows:
        wanted = set(contact_ids)
        interactions: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        owner: dict[int, int] = {}
        for contact_id in wanted:
            for iid in self._t.by_contact.get(contact_id, ()):
                r = self._t.interactions[iid]
                owner[iid] = contact_id
                interactions.append((
                    *r[:5], r[_ORIGIN] if r[_ORIGIN] is not None else r[_EXTERNAL_ID],
                    *r[6:11], r[19], r[23], r[26], r[27], r[28], r[29], r[_ERASED_AT],
                    r[_SEALED], *(r[i] for i in _CONTENT), r[_EXTERNAL_ID], r[_ORIGIN],
                    r[_ORIGIN_STATUS], r[_STATUS], r[_STATUS_RANK]))
        for e in self._t.events.values():
            if e.interaction_id not in owner:
                continue
            c = self._t.event_chain[e.id]
            events.append((
                e.id, e.interaction_id, e.channel, e.account, e.external_id, e.event_id,
                str(e.kind), None if e.status is None else str(e.status),
                to_us(e.occurred_at), to_us(e.received_at), e.error, e.raw_id, c.seq,
                e.digest, c.hash, c.prev_hash, c.erased_at, e.sealed, c.data,
                owner[e.interaction_id]))
        return ChainRows(
            heads=self.chain_heads(wanted), interactions=interactions, events=events,
            erasures=[row for row in self._t.erasures.values() if row[1] in wanted])

    def chain_inputs(self, contact_ids: Sequence[int]
                     ) -> Iterator[Sequence[Sequence[Any]]] | None:
        return None  # nothing to save: the rows are Python objects already

    def tampered_cells(self, contact_ids: Sequence[int]
                       ) -> list[tuple[str, int, int, int | None, str]]:
        found: list[tuple[str, int, int, int | None, str]] = []
        for contact_id in sorted(set(contact_ids)):
            row = self._t.contacts.get(contact_id)
            if row is None:
                continue
            full = any(x[1] == contact_id and x[3] is None for x in self._t.erasures.values())
            if (row.erased_at is not None) != full:
                found.append(("contacts", contact_id, contact_id, None, "erased_at"))
            if row.data_key is None and row.erased_at is None and any(
                    self._t.interactions[i][_SEALED] is not None
                    and self._t.interactions[i][_ERASED_AT] is None
                    for i in self._t.by_contact.get(contact_id, ())):
                found.append(("contacts", contact_id, contact_id, None, "data_key"))
        return found

    def chained_contacts(self, after: int, limit: int) -> list[int]:
        return sorted(c for c in self._t.contacts if c > after)[:limit]

    def insert_erasure(self, erasure_id: int, contact_id: int, at: dt.datetime,
                       before: dt.datetime | None, reason: str | None, seal: RowSeal) -> None:
        self._contact_row(contact_id)
        self._t.put(self._t.erasures, erasure_id, (
            erasure_id, contact_id, to_us(at), None if before is None else to_us(before),
            reason, seal.seq, seal.hash, seal.prev_hash))

    def erase_content(self, contact_id: int, before: dt.datetime | None,
                      at: dt.datetime) -> int:
        stamp = to_us(at)
        cutoff = None if before is None else to_us(before)
        erased = set()
        for iid in sorted(self._t.by_contact.get(contact_id, ())):
            row = self._t.interactions[iid]
            if row[_ERASED_AT] is not None or (cutoff is not None
                                               and row[_OCCURRED_AT] >= cutoff):
                continue
            updated = list(row)
            for column in _ERASABLE:
                updated[column] = None
            updated[_ERASED_AT] = stamp
            self._t.put(self._t.interactions, iid, updated)
            erased.add(iid)
            self._forget_raw(row[23])
        for e in list(self._t.events.values()):
            if e.interaction_id in erased:
                self._t.put(self._t.events, e.id, attrs.evolve(e, data={}, sealed=None))
                self._t.change(self._t.event_chain[e.id], data=None, erased_at=stamp)
                self._forget_raw(e.raw_id)
        if before is None:
            for conversation in list(self._t.conversations.values()):
                if conversation.contact_id == contact_id:
                    self._t.put(self._t.conversations, conversation.id,
                                attrs.evolve(conversation, subject=None))
        return len(erased)

    def _forget_raw(self, raw_id: int | None) -> None:
        found = None if raw_id is None else self._t.raw.get(raw_id)
        if found is not None:
            self._t.put(self._t.raw, found.id,
                        attrs.evolve(found, headers={}, body=b"", sealed=None))

    def forget_contact(self, contact_id: int, at: dt.datetime) -> None:
        for raw in list(self._t.raw.values()):
            if raw.contact_id == contact_id:
                self._t.put(self._t.raw, raw.id, attrs.evolve(
                    raw, headers={}, body=b"", sealed=None, error=None))
        for conversation in list(self._t.conversations.values()):
            if conversation.contact_id == contact_id:
                self._t.put(self._t.conversations, conversation.id,
                            attrs.evolve(conversation, subject=None, thread_key=None))
        for key, (owner, _, _) in list(self._t.addresses.items()):
            if owner == contact_id:
                self._t.remove(self._t.addresses, key)
                if key in self._t.address_seals:
                    self._t.remove(self._t.address_seals, key)
        self._t.change(self._contact_row(contact_id), display_name=None, data_key=None,
                       erased_at=at)

    def forget_raws(self, raw_ids: Sequence[int]) -> None:
        for raw_id in raw_ids:
            if raw_id in self._t.raw:
                self._t.remove(self._t.raw, raw_id)

    def contacts_with_content(self, before: dt.datetime) -> list[int]:
        cutoff = to_us(before)
        return sorted({row[1] for row in self._t.interactions.values()
                       if row[_ERASED_AT] is None and row[_OCCURRED_AT] < cutoff})

    def seal_addresses(self, rows: Sequence[tuple[str, str, bytes]]) -> None:
        for kind, value, sealed in rows:
            if (kind, value) in self._t.addresses:
                self._t.put(self._t.address_seals, (kind, value), sealed)

    def address_seals(self, contact_ids: Iterable[int]
                      ) -> dict[int, list[tuple[str, str, bytes]]]:
        wanted = set(contact_ids)
        found: dict[int, list[tuple[str, str, bytes]]] = {}
        for (kind, value), sealed in self._t.address_seals.items():
            owner = self._t.addresses[(kind, value)][0]
            if owner in wanted:
                found.setdefault(owner, []).append((kind, value, sealed))
        return found

    # -- gaps --------------------------------------------------------------------------------
    def open_gaps(self, gaps: Sequence[Gap]) -> None:
        for gap in gaps:
            key = (gap.kind, gap.channel.value, gap.account, gap.reference)
            if key in self._t.gap_keys:
                continue
            self._t.put(self._t.gaps, gap.id, gap)
            self._t.put(self._t.gap_keys, key, gap.id)

    def close_gaps(
        self, channel: str, account: str, references: Iterable[str], at: dt.datetime
    ) -> int:
        wanted = set(references)
        closed = 0
        for gap in list(self._t.gaps.values()):
            if (gap.channel.value == channel and gap.account == account
                    and gap.reference in wanted and gap.closed_at is None):
                self._t.put(self._t.gaps, gap.id, attrs.evolve(gap, closed_at=at))
                closed += 1
        return closed

    def gaps(self, *, include_closed: bool) -> list[Gap]:
        found = [g for g in self._t.gaps.values() if include_closed or g.closed_at is None]
        return sorted(found, key=lambda g: (g.opened_at, g.id))

    # -- reporting ----------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        interactions: dict[str, int] = {}
        for row in self._t.interactions.values():
            key = f"{row[3]}/{row[6]}/{row[_STATUS] or 'none'}"
            interactions[key] = interactions.get(key, 0) + 1
        raws: dict[str, int] = {}
        for payload in self._t.raw.values():
            raws[payload.state] = raws.get(payload.state, 0) + 1
        open_gaps = sum(1 for g in self._t.gaps.values() if g.closed_at is None)
        return {
            "interactions": dict(sorted(interactions.items())),
            "contacts": {
                "total": len(self._t.contacts),
                "merged": sum(1 for c in self._t.contacts.values() if c.merged_into is not None),
            },
            "gaps": {"open": open_gaps, "closed": len(self._t.gaps) - open_gaps},
            "raw_payloads": dict(sorted(raws.items())),
        }

    # -- cursors ------------------------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        found = self._t.cursors.get(name)
        return None if found is None else found[0]

    def set_cursor(self, name: str, value: str, at: dt.datetime) -> None:
        self._t.put(self._t.cursors, name, (value, at))


class MemoryStore:
    """A `Store` in this process's memory: fast, exact, and gone when the process ends.

    ``omnicx.open(MemoryStore())`` gives a history for tests; the conformance
    suite runs against it like against any database.
    """

    capabilities = Capabilities(durable=False, multi_process=False, concurrent_writers=False)

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()
        self._closed = False
        self.tenant: str | None = None
        self._tenants: dict[str | None, MemoryStore] = tenant_registry(self)

    def for_tenant(self, tenant: str | None) -> MemoryStore:
        """The store of ``tenant`` (``None``: the default) in this memory (docs/tenancy.md)."""
        return scoped_store(self._tenants, tenant, self._sibling, lambda s: not s._closed)

    def _sibling(self, tenant: str) -> MemoryStore:
        sibling = MemoryStore()
        sibling.tenant, sibling._tenants = tenant, self._tenants
        return sibling

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            self._check_open()
            tables = self._tables
            if tables.undo is not None:
                raise StorageError("memory store: atomic() does not nest")
            tables.undo = []
            try:
                result = work(_MemoryTransaction(tables))
            except BaseException:
                tables.rollback()
                raise
            tables.undo = None
            return result

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Transaction]:
        with self._lock:  # the lock makes every read a snapshot
            self._check_open()
            yield _MemoryTransaction(self._tables)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if self.tenant is None:
            close_tenants(self._tenants, MemoryStore.close)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("memory store is closed")
