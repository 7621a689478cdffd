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
    from .storage._base import EventRecord

__all__ = [
    "AUTOMATIC_TYPES",
    "ConversationChange",
    "ConversationState",
    "Lifecycle",
    "Responder",
    "Step",
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


class Responder(OpenEnum):
    """Who produced an outbound interaction, as the KPIs count it."""

    HUMAN = "human"
    BOT = "bot"
    AUTOMATIC = "automatic"


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


@attrs.frozen(kw_only=True)
class Step:
    """What happened at one moment of a conversation, after the rules were applied.

    ``kind`` is ``"inbound"`` (the customer spoke), ``"response"`` (an outbound
    answer, with its ``responder``), ``"outbound"`` (the business wrote while
    nobody was waiting), ``"automatic"``, ``"reopened"``, ``"resolved"``,
    ``"state"`` (another state change), ``"assigned"`` or ``"handover"``.
    ``state`` is the state after the step; ``waiting_since`` when the customer
    started waiting for the answer this step gave (responses only).
    """

    kind: str
    at_us: int
    state: Lifecycle
    assignee: str | None
    team: str | None
    channel: str | None = None
    responder: Responder | None = None
    waiting_since: int | None = None
    first: bool = False


class _Fold:
    """The state machine; fed interactions and changes in time order."""

    def __init__(self) -> None:
        self.state: Lifecycle | None = None
        self.assignee: str | None = None
        self.team: str | None = None
        self.until_us: int | None = None
        self.waiting_since: int | None = None  # the customer's unanswered message
        self.answered = False
        self.reopened = 0
        self.handovers = 0
        self.steps: list[Step] = []

    def _step(self, kind: str, at: int, **extra: Any) -> None:
        assert self.state is not None
        self.steps.append(Step(kind=kind, at_us=at, state=self.state,
                               assignee=self.assignee, team=self.team, **extra))

    def _wake(self, at: int) -> None:
        """A snooze whose time has come opens the conversation again."""
        woke = self.until_us
        if self.state is Lifecycle.SNOOZED and woke is not None and at >= woke:
            self.state, self.until_us = Lifecycle.OPEN, None
            self._step("state", woke)

    def interaction(self, at: int, direction: str, kind: str, message_type: str | None,
                    channel: str) -> None:
        self._wake(at)
        automatic = kind in _AUTOMATIC_KINDS or message_type in AUTOMATIC_TYPES
        if direction == "inbound":
            if automatic:
                if self.state is None:
                    self.state = Lifecycle.PENDING
                self._step("automatic", at, channel=channel)
                return
            reopening = self.state is Lifecycle.RESOLVED
            self.state = Lifecycle.OPEN
            if reopening:
                self.reopened += 1
                self._step("reopened", at, channel=channel)
            if self.waiting_since is None:
                self.waiting_since = at
            self._step("inbound", at, channel=channel)
            return
        if direction != "outbound":
            if self.state is None:
                self.state = Lifecycle.OPEN
            return
        if self.state is None:
            self.state = Lifecycle.PENDING
        if automatic:
            self._step("automatic", at, channel=channel)
            return
        responder = Responder.BOT if is_bot(self.assignee) else Responder.HUMAN
        if self.waiting_since is not None:
            first = responder is Responder.HUMAN and not self.answered
            self._step("response", at, channel=channel, responder=responder,
                       waiting_since=self.waiting_since, first=first)
            if responder is Responder.HUMAN:
                self.answered = True
                self.waiting_since = None
        else:
            self._step("outbound", at, channel=channel, responder=responder)

    def change(self, change: ConversationChange) -> None:
        at = _us(change.occurred_at)
        self._wake(at)
        if self.state is None:
            self.state = Lifecycle.OPEN
        previous = self.assignee
        if change.assignee is not None:
            self.assignee, self.team = change.assignee, change.team or (
                self.team if not change.assignee.startswith("team:") else change.assignee[5:])
        if change.state is not None:
            if change.state is Lifecycle.OPEN and self.state is Lifecycle.RESOLVED:
                self.reopened += 1
            self.state = change.state
            self.until_us = _us(change.until) if change.until is not None else None
            if change.state is Lifecycle.RESOLVED:
                self.waiting_since = None
        if change.action == "handover":
            self.handovers += 1
            self._step("handover", at, responder=Responder.BOT if is_bot(previous) else None)
        elif change.state is Lifecycle.RESOLVED:
            self._step("resolved", at)
        elif change.state is not None:
            self._step("reopened" if change.action == "reopen" else "state", at)
        else:
            self._step("assigned", at)


def _us(at: dt.datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def fold(
    interactions: Iterable[tuple[int, str, str, str | None, str]],
    changes: Sequence[ConversationChange],
    *,
    until_us: int | None = None,
) -> _Fold:
    """Run a conversation's interactions and changes through the rules, in time order.

    ``interactions`` are ``(occurred µs, direction, kind, message_type,
    channel)`` in provider order; ``changes`` are in provider order too. On a
    tie the interaction comes first: an agent resolving at the same
    microsecond as the customer's message has seen that message. Only what
    happened before ``until_us`` counts.
    """
    machine = _Fold()
    pending = list(changes)
    index = 0
    for at, direction, kind, message_type, channel in interactions:
        if until_us is not None and at >= until_us:
            break
        while index < len(pending) and _us(pending[index].occurred_at) < at:
            machine.change(pending[index])
            index += 1
        machine.interaction(at, direction, kind, message_type, channel)
    for change in pending[index:]:
        if until_us is not None and _us(change.occurred_at) >= until_us:
            break
        machine.change(change)
    if until_us is not None:
        machine._wake(until_us)
    return machine
