"""A conversation's lifecycle: the states, the recorded changes, and the fold.

A conversation is *open* (the customer waits for us), *pending* (we wait for
the customer), *snoozed* (parked until a time) or *resolved*. Who handles it
is its *assignee*: ``"bot:<name>"``, ``"agent:<id>"``, ``"team:<name>"`` or
``"human"`` (the human queue, nobody in particular); a *handover* is an
assignment that says why (a bot handing over to a person).

Agents' and bots' decisions are recorded as `ConversationChange` events in
the contact's hash chain (``omnicx._conversations`` writes them). What
customers do is not recorded twice: an inbound message that arrives while the
conversation is resolved, pending or snoozed reopens it, and the fold below
derives that from the interactions themselves. `fold` is the single place
where the rules live; `History.conversations` and `History.kpis` both use it,
so a state shown to an agent and a state counted in a KPI cannot disagree.

The rules (``docs/insight.md`` explains them for users):

- a conversation that starts with an inbound message starts *open*; one that
  starts with an outbound message starts *pending* (we wrote first and wait);
- an inbound message reopens a resolved, pending or snoozed conversation
  (an automatic reply, ``message_type="auto_reply"``, does not);
- a snoozed conversation is open again when its time has come;
- an outbound message answers the customer; it is a *human* answer unless
  the conversation is with a bot at that moment, or it is automatic
  (``kind="system"`` or ``message_type="auto_reply"``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._enums import OpenEnum
from ._errors import PayloadError
from ._models import utc

if TYPE_CHECKING:
    from .storage._base import ActivityRow, EventRecord

__all__ = [
    "AUTOMATIC_TYPES",
    "ConversationChange",
    "ConversationState",
    "Lifecycle",
    "Fold",
    "fold",
    "is_bot",
]

# Interactions that are neither the customer speaking nor a person answering.
AUTOMATIC_TYPES = frozenset({"auto_reply"})
_AUTOMATIC_KINDS = frozenset({"system"})


class Lifecycle(OpenEnum):
    """Where a conversation stands."""

    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


def is_bot(assignee: str | None) -> bool:
    """Whether an assignee names a bot (``"bot:<name>"``)."""
    return assignee is not None and assignee.startswith("bot:")


def _optional_lifecycle(value: str | None) -> Lifecycle | None:
    return None if value is None else Lifecycle(value)


@attrs.frozen(kw_only=True)
class ConversationChange:
    """One recorded lifecycle decision: resolve, reopen, pending, snooze, assign, handover.

    ``state`` is the state it moves to (``None`` for an assignment, which leaves
    the state alone); ``assignee``/``team`` the new handler; ``by`` who made
    the change (an agent, a bot, a rule); ``until`` when a snooze ends.
    """

    id: int
    conversation_id: int
    action: str
    occurred_at: dt.datetime = attrs.field(converter=utc)
    state: Lifecycle | None = attrs.field(default=None, converter=_optional_lifecycle)
    assignee: str | None = None
    team: str | None = None
    by: str | None = None
    reason: str | None = None
    until: dt.datetime | None = None

    def event_id(self, unique: str) -> str:
        """The event's id: ``conversation:<unique>:<skeleton JSON>``.

        The skeleton (conversation, action, state, assignee, team, until) is
        who-handled-what, not the customer's content: it stays in the clear
        and in the chain, so KPIs stay right after erasure. ``by`` and
        ``reason`` are content (a reason may quote the customer): they go to
        the event's data, which is sealed and shredded with the contact.
        """
        until = None if self.until is None else self.until.isoformat()
        state = None if self.state is None else self.state.value
        skeleton = [self.conversation_id, self.action, state, self.assignee, self.team, until]
        return f"{_PREFIX}{unique}:{json.dumps(skeleton, separators=(',', ':'))}"

    def content(self) -> dict[str, Any]:
        return {name: value for name in ("by", "reason")
                if (value := getattr(self, name)) is not None}

    @classmethod
    def from_event(cls, record: EventRecord) -> ConversationChange:
        """The change an event of kind ``conversation`` records (content may be erased)."""
        try:
            _, _, rest = record.event_id.partition(":")
            skeleton = json.loads(rest[37:])
            cid, action, state, assignee, team, until = skeleton
            data = record.data or {}
            return cls(id=record.id, conversation_id=int(cid), action=str(action),
                       occurred_at=record.occurred_at, state=state, assignee=assignee,
                       team=team, by=data.get("by"), reason=data.get("reason"),
                       until=dt.datetime.fromisoformat(until) if until else None)
        except (ValueError, TypeError) as exc:
            raise PayloadError(f"event #{record.id} is not a conversation change") from exc


_PREFIX = "conversation:"


@attrs.frozen(kw_only=True)
class ConversationState:
    """A conversation as it stands at ``at``: state, handler and its recorded changes."""

    conversation_id: int
    state: Lifecycle
    at: dt.datetime
    assignee: str | None = None
    team: str | None = None
    snoozed_until: dt.datetime | None = None
    reopened: int = 0
    handovers: int = 0
    changes: tuple[ConversationChange, ...] = ()


class Fold:
    """The state machine, fed a conversation's interactions and changes in time order.

    Besides the state it keeps what the KPIs measure, as it goes (times are
    µs since the epoch): when the customer first wrote, the first human
    answer and who gave it, every later wait for a human answer, the
    resolutions, whether a bot handled it and handed it to a human, and the
    spans during which the conversation was unresolved after the customer
    had written (backlog).
    """

    def __init__(self) -> None:
        self.state: Lifecycle | None = None
        self.assignee: str | None = None
        self.team: str | None = None
        self.until_us: int | None = None
        self.reopened = 0
        self.handovers = 0
        # measurements
        self.inbound = 0
        self.outbound = 0
        self.first_inbound: int | None = None
        self.waiting_since: int | None = None  # the customer's unanswered message
        self.first_response: int | None = None
        self.first_responder: tuple[str | None, str | None] = (None, None)
        self.next_responses: list[int] = []
        self.resolved_at: int | None = None
        self.bot = False
        self.handed_over = False
        self.spans: list[tuple[int, int | None]] = []
        self._open_since: int | None = None

    def _moved(self, at: int) -> None:
        """Track backlog spans after every state change."""
        if self.first_inbound is None:
            return
        if self.state is Lifecycle.RESOLVED:
            if self._open_since is not None:
                self.spans.append((self._open_since, at))
                self._open_since = None
        elif self._open_since is None:
            self._open_since = at

    def _wake(self, at: int) -> None:
        """A snooze whose time has come opens the conversation again."""
        woke = self.until_us
        if self.state is Lifecycle.SNOOZED and woke is not None and at >= woke:
            self.state, self.until_us = Lifecycle.OPEN, None

    def interactions(self, rows: Iterable[ActivityRow]) -> None:
        """Feed a run of interactions with no change between them, in time order.

        The rules for what customers and agents do live here, once. KPIs fold
        millions of interactions, so the fold's fields are held in locals for
        the run and written back at its end (the assignee, and so whether a
        bot answers, can only move with a change, which ends a run).
        """
        state, until_us, reopened = self.state, self.until_us, self.reopened
        inbound, outbound = self.inbound, self.outbound
        first_inbound, waiting_since = self.first_inbound, self.waiting_since
        first_response, first_responder = self.first_response, self.first_responder
        next_responses, open_since, bot = self.next_responses, self._open_since, self.bot
        bot_answers = is_bot(self.assignee)
        automatic_kinds, automatic_types = _AUTOMATIC_KINDS, AUTOMATIC_TYPES
        opened, pending, snoozed, resolved = (Lifecycle.OPEN, Lifecycle.PENDING,
                                              Lifecycle.SNOOZED, Lifecycle.RESOLVED)
        for _, _, _, _, direction, kind, message_type, at in rows:
            if state is snoozed and until_us is not None and at >= until_us:
                state, until_us = opened, None  # the snooze's time has come
            automatic = kind in automatic_kinds or message_type in automatic_types
            if direction == "inbound":
                if automatic:
                    if state is None:
                        state = pending
                    continue
                inbound += 1
                if state is resolved:
                    reopened += 1
                state = opened
                if first_inbound is None:
                    first_inbound = at
                if waiting_since is None:
                    waiting_since = at
                if open_since is None:  # backlog: unresolved since the customer wrote
                    open_since = at
                continue
            if direction != "outbound":
                if state is None:
                    state = opened
                continue
            outbound += 1
            if state is None:
                state = pending
            if automatic:
                continue
            if bot_answers:
                bot = True
                continue  # a bot's answer: the customer still waits for a person
            if waiting_since is not None:
                if first_response is None and first_inbound is not None:
                    # From the customer's first message, even when a resolution without
                    # an answer came between (a conversation closed unanswered is not
                    # answered).
                    first_response = at - first_inbound
                    first_responder = (self.assignee, self.team)
                else:
                    next_responses.append(at - waiting_since)
                waiting_since = None
        self.state, self.until_us, self.reopened = state, until_us, reopened
        self.inbound, self.outbound = inbound, outbound
        self.first_inbound, self.waiting_since = first_inbound, waiting_since
        self.first_response, self.first_responder = first_response, first_responder
        self._open_since, self.bot = open_since, bot

    def change(self, change: ConversationChange) -> None:
        at = _us(change.occurred_at)
        self._wake(at)
        if self.state is None:
            self.state = Lifecycle.OPEN
        previous = self.assignee
        if change.assignee is not None:
            self.assignee = change.assignee
            if change.team is not None:
                self.team = change.team
            elif change.assignee.startswith("team:"):
                self.team = change.assignee[5:]
            if is_bot(change.assignee):
                self.bot = True
        if change.action == "handover":
            self.handovers += 1
            if is_bot(previous) and not is_bot(self.assignee):
                self.handed_over = True
        if change.state is not None:
            if change.state is Lifecycle.OPEN and self.state is Lifecycle.RESOLVED:
                self.reopened += 1
            self.state = change.state
            self.until_us = _us(change.until) if change.until is not None else None
            if change.state is Lifecycle.RESOLVED:
                self.waiting_since = None
                self.resolved_at = at
            self._moved(at)

    def finish(self, until_us: int | None) -> Fold:
        if until_us is not None:
            self._wake(until_us)
        if self._open_since is not None:
            self.spans.append((self._open_since, None))
            self._open_since = None
        return self


def _us(at: dt.datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def fold(
    interactions: Iterable[ActivityRow],
    changes: Sequence[ConversationChange],
    *,
    until_us: int | None = None,
) -> Fold:
    """Run a conversation's interactions and changes through the rules, in time order.

    ``interactions`` are a conversation's rows as `Transaction.activity` reads
    them (the fold uses direction, kind, message type and time), in time
    order; ``changes`` are in time order too. On a
    tie the interaction comes first: an agent resolving at the same
    microsecond as the customer's message has seen that message. Only what
    happened before ``until_us`` counts.
    """
    machine = Fold()
    rows = interactions if isinstance(interactions, list) else list(interactions)
    end = len(rows)
    # Only what happened before until_us. The rows are in time order, so the
    # last one says whether any is later (KPIs read only earlier rows).
    if until_us is not None and rows and rows[-1][7] >= until_us:
        end = next(n for n, row in enumerate(rows) if row[7] >= until_us)
    start = 0
    for change in changes:
        at = _us(change.occurred_at)
        if until_us is not None and at >= until_us:
            break
        stop = start
        while stop < end and rows[stop][7] <= at:  # on a tie the interaction comes first
            stop += 1
        if stop > start:
            machine.interactions(rows[start:stop])
            start = stop
        machine.change(change)
    if start < end:
        machine.interactions(rows[start:end] if start or end < len(rows) else rows)
    return machine.finish(until_us)
