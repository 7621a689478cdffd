"""`history.conversations`: a conversation's state, who handles it, and every change.

Each change an agent, a bot or a rule makes (resolve, reopen, pending,
snooze, assign, handover) is stored as an event of kind ``conversation`` on
the conversation's first interaction. That puts it in the contact's hash
chain (so `History.verify` covers it), seals its details with the contact's
key (so erasure shreds them) and lists it with the interaction's other
events. The current state is never stored: it is folded from the changes and
the interactions (``omnicx._lifecycle``), so it cannot drift from them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._errors import ConfigurationError, NotFoundError
from ._ingest import record_events
from ._lifecycle import ConversationChange, ConversationState, Lifecycle, fold
from ._models import Conversation, Interaction
from .storage._base import EventRecord, Store, Transaction

if TYPE_CHECKING:
    from ._vault import Vault

__all__ = ["Conversations"]

ConversationRef = Conversation | Interaction | int


def _conversation_id(ref: ConversationRef) -> int:
    if isinstance(ref, Conversation):
        return ref.id
    if isinstance(ref, Interaction):
        return ref.conversation_id
    return int(ref)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(at: dt.datetime | None, name: str) -> dt.datetime | None:
    if at is not None and at.tzinfo is None:
        raise ConfigurationError(f"{name} must be timezone-aware")
    return at


class Conversations:
    """The conversations of a history and their lifecycle (``history.conversations``)."""

    def __init__(self, store: Store, vault: Vault,
                 notify: Callable[[ConversationChange], None] | None = None) -> None:
        self._store = store
        self._vault = vault
        self._notify = notify

    # -- reading -------------------------------------------------------------------------
    def get(self, conversation: ConversationRef) -> Conversation:
        """The conversation with this id (or of this interaction)."""
        cid = _conversation_id(conversation)
        with self._store.reading() as tx:
            found = tx.conversation(cid)
        if found is None:
            raise NotFoundError(f"no conversation #{cid}")
        return found

    def changes(self, conversation: ConversationRef) -> list[ConversationChange]:
        """Every recorded change of a conversation, oldest first."""
        cid = _conversation_id(conversation)
        with self._store.reading() as tx:
            if tx.conversation(cid) is None:
                raise NotFoundError(f"no conversation #{cid}")
            return self._changes(tx, cid)

    def state(self, conversation: ConversationRef, *,
              at: dt.datetime | None = None) -> ConversationState:
        """Where a conversation stands now (or at ``at``): state, assignee, reopen count."""
        cid = _conversation_id(conversation)
        when = _aware(at, "at") or _now()
        with self._store.reading() as tx:
            if tx.conversation(cid) is None:
                raise NotFoundError(f"no conversation #{cid}")
            changes = self._changes(tx, cid)
            rows = list(tx.activity(when, conversation_ids=[cid]))
        machine = fold(rows, changes, until_us=_to_us(when))
        return ConversationState(
            conversation_id=cid, state=machine.state or Lifecycle.OPEN, at=when,
            assignee=machine.assignee, team=machine.team,
            snoozed_until=(dt.datetime.fromtimestamp(machine.until_us / 1e6, dt.UTC)
                           if machine.until_us is not None else None),
            reopened=machine.reopened, handovers=machine.handovers,
            changes=tuple(c for c in changes if c.occurred_at < when))

    # -- changing ------------------------------------------------------------------------
    def resolve(self, conversation: ConversationRef, *, by: str | None = None,
                reason: str | None = None, at: dt.datetime | None = None) -> ConversationChange:
        """Mark a conversation resolved; the customer's next message reopens it."""
        return self._record(conversation, "resolve", Lifecycle.RESOLVED, by=by, reason=reason,
                            at=at)

    def reopen(self, conversation: ConversationRef, *, by: str | None = None,
               reason: str | None = None, at: dt.datetime | None = None) -> ConversationChange:
        """Open a conversation again (counted as a reopen when it was resolved)."""
        return self._record(conversation, "reopen", Lifecycle.OPEN, by=by, reason=reason, at=at)

    def pending(self, conversation: ConversationRef, *, by: str | None = None,
                reason: str | None = None, at: dt.datetime | None = None) -> ConversationChange:
        """Mark a conversation as waiting for the customer."""
        return self._record(conversation, "pending", Lifecycle.PENDING, by=by, reason=reason,
                            at=at)

    def snooze(self, conversation: ConversationRef, *, until: dt.datetime,
               by: str | None = None, reason: str | None = None,
               at: dt.datetime | None = None) -> ConversationChange:
        """Park a conversation until ``until``; it is open again then (or when the customer
        writes)."""
        when = _aware(at, "at") or _now()
        if _aware(until, "until") is None or until <= when:
            raise ConfigurationError("snooze until must be later than now")
        return self._record(conversation, "snooze", Lifecycle.SNOOZED, by=by, reason=reason,
                            at=when, until=until)

    def assign(self, conversation: ConversationRef, *, to: str, team: str | None = None,
               by: str | None = None, at: dt.datetime | None = None) -> ConversationChange:
        """Give a conversation to ``to`` (``"agent:17"``, ``"team:billing"``, ``"bot:faq"``)."""
        return self._record(conversation, "assign", None, assignee=_handler(to), team=team,
                            by=by, at=at)

    def handover(self, conversation: ConversationRef, *, to: str = "human",
                 reason: str | None = None, team: str | None = None, by: str | None = None,
                 at: dt.datetime | None = None) -> ConversationChange:
        """Hand a conversation over (a bot to ``"human"``, an agent to a team), saying why."""
        return self._record(conversation, "handover", None, assignee=_handler(to), team=team,
                            by=by, reason=reason, at=at)

    # -- internals -----------------------------------------------------------------------
    def _changes(self, tx: Transaction, cid: int) -> list[ConversationChange]:
        first = tx.first_interaction(cid)
        if first is None:
            return []
        found = tx.interaction(first)
        records = [e for e in tx.events(first) if e.kind == "conversation"]
        opened = self._vault.open_events(tx, found.contact_id if found else None, records)
        return [ConversationChange.from_event(e) for e in opened]

    def _record(self, conversation: ConversationRef, action: str, state: Lifecycle | None, *,
                assignee: str | None = None, team: str | None = None, by: str | None = None,
                reason: str | None = None, at: dt.datetime | None = None,
                until: dt.datetime | None = None) -> ConversationChange:
        cid = _conversation_id(conversation)
        now = _now()
        when = _aware(at, "at") or now

        def work(tx: Transaction) -> ConversationChange:
            first = tx.first_interaction(cid)
            opener = tx.interaction(first) if first is not None else None
            if opener is None:
                raise NotFoundError(f"no conversation #{cid}")
            (event_id,) = tx.new_ids("events", 1)
            change = ConversationChange(
                id=event_id, conversation_id=cid, action=action, occurred_at=when, state=state,
                assignee=assignee, team=team, by=by, reason=reason, until=until)
            sealer = self._vault.sealer(tx)
            record_events(tx, sealer, [EventRecord(
                id=event_id, interaction_id=opener.id, channel=opener.channel.value,
                account=opener.account, external_id=opener.external_id,
                event_id=change.event_id(str(uuid.uuid4())), kind="conversation",
                occurred_at=when, received_at=now, data=change.content())],
                opener.contact_id)
            sealer.flush()
            return change

        change = self._store.atomic(work)
        if self._notify is not None:
            self._notify(change)
        return change


def _handler(to: str) -> str:
    handler = to.strip()
    if not handler:
        raise ConfigurationError("a conversation must be assigned to someone")
    return handler


def _to_us(at: dt.datetime) -> int:
    delta = at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
