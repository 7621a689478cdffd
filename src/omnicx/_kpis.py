"""Contact-centre KPIs: first and next response, resolution, reopens, backlog, SLA,
bot containment, channel mix and cross-channel journeys.

One pass over the interactions' skeleton (`Transaction.activity`: no content,
so it works on erased and encrypted histories alike) and the recorded
lifecycle changes, each conversation run through the same fold the agents'
view uses (``omnicx._lifecycle``). Definitions, so the numbers can be
checked by hand (``docs/insight.md`` has them with examples):

- A conversation *belongs to* the period in which its first interaction
  happened; period figures count those conversations.
- *First response*: from the customer's first message to the first human
  answer. Bot answers and automatic replies do not count; conversations we
  started (outbound-first) count from the customer's first message, if any.
- *Next response*: each later wait of the customer for a human answer.
- *Resolution*: from the first message to the last resolution, for
  conversations resolved at the end of the period.
- *Reopen rate*: conversations reopened at least once / conversations
  resolved at least once.
- *Cross-channel journey*: a customer's message followed, within the
  window, by their next message on another channel (merged contacts are one
  customer).
- *Backlog* at an instant: conversations started by then and not resolved
  (open, pending or snoozed) at that instant.
- *Bot containment*: conversations a bot handled that were resolved without a
  handover to a human / conversations a bot handled; *handover rate* the
  share that was handed over.
- *SLA breach*: a first response (or resolution) whose business time (see
  `omnicx.BusinessHours`) exceeded the channel's target, or that is still
  missing at the end of the period when the target has already passed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any

import attrs

from ._business import SLA
from ._errors import ConfigurationError
from ._lifecycle import AUTOMATIC_TYPES, ConversationChange, Lifecycle, Responder, fold, is_bot
from .storage._base import ActivityRow, EventRecord, Store, Transaction

__all__ = ["Durations", "KpiGroup", "KpiReport", "SlaBreach", "compute_kpis"]

_GROUPINGS = ("channel", "team", "agent", "day", "week", None)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UNRESOLVED = (Lifecycle.OPEN, Lifecycle.PENDING, Lifecycle.SNOOZED)


def _us(at: dt.datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


@attrs.frozen(kw_only=True)
class Durations:
    """Summary of a set of durations: how many, mean, median, 90th percentile, maximum."""

    count: int = 0
    mean: dt.timedelta | None = None
    median: dt.timedelta | None = None
    p90: dt.timedelta | None = None
    max: dt.timedelta | None = None

    @classmethod
    def of(cls, micros: Sequence[int]) -> Durations:
        if not micros:
            return cls()
        ordered = sorted(micros)

        def rank(q: float) -> dt.timedelta:  # nearest rank: an observed value
            return dt.timedelta(microseconds=ordered[max(math.ceil(q * len(ordered)) - 1, 0)])

        return cls(count=len(ordered),
                   mean=dt.timedelta(microseconds=sum(ordered) // len(ordered)),
                   median=rank(0.5), p90=rank(0.9),
                   max=dt.timedelta(microseconds=ordered[-1]))

    def to_dict(self) -> dict[str, Any]:
        def seconds(value: dt.timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {"count": self.count, "mean_s": seconds(self.mean),
                "median_s": seconds(self.median), "p90_s": seconds(self.p90),
                "max_s": seconds(self.max)}


@attrs.frozen(kw_only=True)
class SlaBreach:
    """One missed target: which conversation, which target, by how much."""

    conversation_id: int
    channel: str
    target: str  # "first_response" or "resolution"
    started_at: dt.datetime
    limit: dt.timedelta
    elapsed: dt.timedelta
    met_at: dt.datetime | None  # when the answer/resolution came (None: still missing)


@attrs.frozen(kw_only=True)
class KpiGroup:
    """The KPIs of the conversations in one group (a channel, a team, a day...)."""

    key: str
    conversations: int = 0
    inbound: int = 0
    outbound: int = 0
    outbound_first: int = 0
    first_response: Durations = Durations()
    next_response: Durations = Durations()
    resolution: Durations = Durations()
    resolved: int = 0
    reopened: int = 0
    unresolved: int = 0
    bot_conversations: int = 0
    bot_contained: int = 0
    handed_over: int = 0
    sla_breaches: int = 0

    @property
    def reopen_rate(self) -> float | None:
        ever = self.resolved + self._reopened_unresolved
        return None if ever == 0 else self.reopened / ever

    @property
    def containment_rate(self) -> float | None:
        return None if not self.bot_conversations else self.bot_contained / self.bot_conversations

    @property
    def handover_rate(self) -> float | None:
        return None if not self.bot_conversations else self.handed_over / self.bot_conversations

    # Conversations resolved once, reopened, and not resolved again: they were resolved.
    _reopened_unresolved: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "conversations": self.conversations, "inbound": self.inbound,
            "outbound": self.outbound, "outbound_first": self.outbound_first,
            "first_response": self.first_response.to_dict(),
            "next_response": self.next_response.to_dict(),
            "resolution": self.resolution.to_dict(), "resolved": self.resolved,
            "reopened": self.reopened, "reopen_rate": self.reopen_rate,
            "unresolved": self.unresolved, "bot_conversations": self.bot_conversations,
            "bot_contained": self.bot_contained, "handed_over": self.handed_over,
            "containment_rate": self.containment_rate, "handover_rate": self.handover_rate,
            "sla_breaches": self.sla_breaches,
        }


@attrs.frozen(kw_only=True)
class KpiReport:
    """What `History.kpis` returns. ``total`` covers every conversation of the period,
    ``groups`` the same split ``by`` one dimension; the series are per ``bucket``."""

    since: dt.datetime | None
    until: dt.datetime
    by: str | None
    bucket: str
    total: KpiGroup
    groups: tuple[KpiGroup, ...]
    backlog: tuple[tuple[dt.datetime, int], ...]
    channel_mix: tuple[tuple[dt.date, Mapping[str, int]], ...]
    journeys: Mapping[str, int]
    journey_customers: int
    breaches: tuple[SlaBreach, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times ISO 8601, durations in seconds)."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(), "by": self.by, "bucket": self.bucket,
            "total": self.total.to_dict(), "groups": [g.to_dict() for g in self.groups],
            "backlog": [[at.isoformat(), n] for at, n in self.backlog],
            "channel_mix": [[day.isoformat(), dict(mix)] for day, mix in self.channel_mix],
            "journeys": dict(self.journeys), "journey_customers": self.journey_customers,
            "breaches": [{
                "conversation_id": b.conversation_id, "channel": b.channel,
                "target": b.target, "started_at": b.started_at.isoformat(),
                "limit_s": b.limit.total_seconds(), "elapsed_s": b.elapsed.total_seconds(),
                "met_at": b.met_at.isoformat() if b.met_at else None} for b in self.breaches],
        }


@attrs.define
class _Tally:
    """Mutable accumulator behind a `KpiGroup`."""

    conversations: int = 0
    inbound: int = 0
    outbound: int = 0
    outbound_first: int = 0
    first_response: list[int] = attrs.field(factory=list)
    next_response: list[int] = attrs.field(factory=list)
    resolution: list[int] = attrs.field(factory=list)
    resolved: int = 0
    reopened: int = 0
    reopened_unresolved: int = 0
    unresolved: int = 0
    bot_conversations: int = 0
    bot_contained: int = 0
    handed_over: int = 0
    sla_breaches: int = 0

    def freeze(self, key: str) -> KpiGroup:
        return KpiGroup(
            key=key, conversations=self.conversations, inbound=self.inbound,
            outbound=self.outbound, outbound_first=self.outbound_first,
            first_response=Durations.of(self.first_response),
            next_response=Durations.of(self.next_response),
            resolution=Durations.of(self.resolution), resolved=self.resolved,
            reopened=self.reopened, unresolved=self.unresolved,
            bot_conversations=self.bot_conversations, bot_contained=self.bot_contained,
            handed_over=self.handed_over, sla_breaches=self.sla_breaches,
            reopened_unresolved=self.reopened_unresolved)


@attrs.frozen(kw_only=True)
class _Outcome:
    """One conversation, measured."""

    key_channel: str
    started: int
    inbound: int
    outbound: int
    outbound_first: bool
    first_response: int | None
    next_responses: tuple[int, ...]
    resolution: int | None
    resolved: bool
    ever_resolved: bool
    reopened: bool
    bot: bool
    contained: bool
    handed_over: bool
    assignee: str | None
    team: str | None
    unresolved_spans: tuple[tuple[int, int | None], ...]
    breaches: tuple[SlaBreach, ...]


def _sla_for(sla: SLA | Mapping[str, SLA] | None, channel: str) -> SLA | None:
    if sla is None or isinstance(sla, SLA):
        return sla
    return sla.get(channel) or sla.get("*")


def _measure(cid: int, rows: list[ActivityRow], changes: Sequence[ConversationChange],
             until_us: int, sla: SLA | None) -> _Outcome:
    machine = fold(((r.occurred_us, r.direction, r.kind, r.message_type, r.channel)
                    for r in rows), changes, until_us=until_us)
    first = rows[0]
    first_inbound: int | None = None
    first_response: int | None = None
    next_responses: list[int] = []
    resolved_at: int | None = None
    ever_resolved = False
    bot = is_bot(machine.assignee)
    handed_over = False
    spans: list[tuple[int, int | None]] = []
    open_since: int | None = None
    responder_at_first: tuple[str | None, str | None] = (None, None)
    for step in machine.steps:
        if step.kind == "inbound" and first_inbound is None:
            first_inbound = step.at_us
        if is_bot(step.assignee):
            bot = True
        if step.kind == "response" and step.responder is Responder.BOT:
            bot = True
        if step.kind == "handover" and step.responder is Responder.BOT \
                and not is_bot(step.assignee):
            handed_over = True
        if step.kind == "response" and step.responder is Responder.HUMAN \
                and step.waiting_since is not None:
            if step.first:
                first_response = step.at_us - step.waiting_since
                responder_at_first = (step.assignee, step.team)
            else:
                next_responses.append(step.at_us - step.waiting_since)
        if step.kind == "resolved":
            ever_resolved = True
        # Backlog: from the customer's first message (a notification nobody answered
        # is no work) until a resolution.
        if step.state in _UNRESOLVED and open_since is None and first_inbound is not None:
            open_since = step.at_us
        elif step.state is Lifecycle.RESOLVED and open_since is not None:
            spans.append((open_since, step.at_us))
            open_since = None
    if open_since is not None:
        spans.append((open_since, None))
    final = machine.state or Lifecycle.OPEN
    if final is Lifecycle.RESOLVED:
        last = next(s.at_us for s in reversed(machine.steps) if s.kind == "resolved")
        resolved_at = last - (first_inbound if first_inbound is not None else first.occurred_us)
    breaches: list[SlaBreach] = []
    if sla is not None and first_inbound is not None:
        start = _at(first_inbound)
        if sla.first_response is not None:
            met = first_inbound + first_response if first_response is not None else None
            elapsed = sla.measure(start, _at(met if met is not None else until_us))
            if elapsed > sla.first_response:
                breaches.append(SlaBreach(
                    conversation_id=cid, channel=first.channel, target="first_response",
                    started_at=start, limit=sla.first_response, elapsed=elapsed,
                    met_at=_at(met) if met is not None else None))
        if sla.resolution is not None:
            met = first_inbound + resolved_at if resolved_at is not None else None
            elapsed = sla.measure(start, _at(met if met is not None else until_us))
            if elapsed > sla.resolution:
                breaches.append(SlaBreach(
                    conversation_id=cid, channel=first.channel, target="resolution",
                    started_at=start, limit=sla.resolution, elapsed=elapsed,
                    met_at=_at(met) if met is not None else None))
    assignee, team = responder_at_first if first_response is not None else (
        machine.assignee, machine.team)
    return _Outcome(
        key_channel=first.channel, started=first.occurred_us,
        inbound=sum(1 for s in machine.steps if s.kind == "inbound"),
        outbound=sum(1 for r in rows if r.direction == "outbound"
                     and r.occurred_us < until_us),
        outbound_first=first.direction == "outbound", first_response=first_response,
        next_responses=tuple(next_responses), resolution=resolved_at,
        resolved=final is Lifecycle.RESOLVED, ever_resolved=ever_resolved,
        reopened=machine.reopened > 0, bot=bot,
        contained=bot and not handed_over and final is Lifecycle.RESOLVED,
        handed_over=handed_over, assignee=assignee, team=team,
        unresolved_spans=tuple(spans), breaches=tuple(breaches))


def _bucket_start(day: dt.date, bucket: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if bucket == "week" else day


def _key(outcome: _Outcome, by: str | None) -> str:
    if by == "channel":
        return outcome.key_channel
    if by in {"day", "week"}:
        return _bucket_start(_at(outcome.started).date(), by).isoformat()
    if by == "team":
        return outcome.team or "(none)"
    if by == "agent":
        assignee = outcome.assignee
        if assignee is None or is_bot(assignee) or assignee.startswith("team:") \
                or assignee == "human":
            return "(unassigned)"
        return assignee
    return "all"


def _add(tally: _Tally, o: _Outcome) -> None:
    tally.conversations += 1
    tally.inbound += o.inbound
    tally.outbound += o.outbound
    tally.outbound_first += o.outbound_first
    if o.first_response is not None:
        tally.first_response.append(o.first_response)
    tally.next_response.extend(o.next_responses)
    if o.resolution is not None:
        tally.resolution.append(o.resolution)
    tally.resolved += o.resolved
    tally.reopened += o.reopened
    tally.reopened_unresolved += o.ever_resolved and not o.resolved
    tally.unresolved += not o.resolved
    tally.bot_conversations += o.bot
    tally.bot_contained += o.contained
    tally.handed_over += o.handed_over
    tally.sla_breaches += len(o.breaches)


def _boundaries(since_us: int, until_us: int, bucket: str) -> list[int]:
    """The end of each bucket between ``since`` and ``until`` (UTC days or weeks)."""
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    start = _bucket_start(_at(since_us).date(), bucket)
    at = dt.datetime.combine(start, dt.time(), dt.UTC) + step
    found: list[int] = []
    while _us(at) < until_us and len(found) < 10_000:
        found.append(_us(at))
        at += step
    found.append(until_us)
    return found


def _bucket_days(boundaries: list[int], bucket: str) -> list[dt.date]:
    """The first day of every bucket the boundaries close (empty ones included)."""
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    days = [_bucket_start((_at(b) - step).date(), bucket) for b in boundaries[:-1]]
    last = _bucket_start((_at(boundaries[-1]) - dt.timedelta(microseconds=1)).date(), bucket)
    return sorted({*days, last})


def _journeys(touches: list[tuple[int, int, str, str]],
              window_us: int) -> tuple[Counter[str], int]:
    """Pairs "a→b" of a customer's message on channel a followed within the window by
    their next message on another channel b; and how many customers made one."""
    pairs: Counter[str] = Counter()
    customers = 0
    touches.sort()
    for _, items in groupby(touches, key=lambda t: t[0]):
        seen = False
        previous: tuple[int, int, str, str] | None = None
        for item in items:
            if previous is not None and item[2] != previous[2] \
                    and item[1] - previous[1] <= window_us:
                pairs[f"{previous[2]}→{item[2]}"] += 1
                seen = True
            previous = item
        customers += seen
    return pairs, customers


def compute_kpis(
    store: Store,
    open_changes: Callable[[Transaction, list[tuple[int, EventRecord]]],
                           Iterable[ConversationChange]],
    *,
    since: dt.datetime | None,
    until: dt.datetime,
    by: str | None,
    bucket: str,
    sla: SLA | Mapping[str, SLA] | None,
    journey_window: dt.timedelta,
) -> KpiReport:
    """Compute the KPIs of the conversations that started in ``[since, until)``."""
    if by not in _GROUPINGS:
        raise ConfigurationError(f"by must be one of channel, team, agent, day, week: {by!r}")
    if bucket not in ("day", "week"):
        raise ConfigurationError(f"bucket must be day or week: {bucket!r}")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ConfigurationError(f"{name} must be timezone-aware")
    since_us = None if since is None else _us(since)
    until_us = _us(until)
    with store.reading() as tx:
        changes: dict[int, list[ConversationChange]] = defaultdict(list)
        for change in open_changes(tx, tx.conversation_events()):
            changes[change.conversation_id].append(change)
        outcomes: list[_Outcome] = []
        touches: list[tuple[int, int, str, str]] = []
        mix: dict[dt.date, Counter[str]] = defaultdict(Counter)
        first_seen = until_us
        for cid, group in groupby(tx.activity(until), key=attrgetter("conversation_id")):
            rows = list(group)
            started = rows[0].occurred_us
            first_seen = min(first_seen, started)
            for r in rows:
                if since_us is not None and r.occurred_us < since_us:
                    continue
                if r.message_type in AUTOMATIC_TYPES or r.kind == "system":
                    continue
                if r.direction == "inbound":
                    touches.append((r.root_id, r.occurred_us, r.channel, r.direction))
                    mix[_bucket_start(_at(r.occurred_us).date(), bucket)][r.channel] += 1
            outcomes.append(_measure(cid, rows, changes.get(cid, ()), until_us,
                                     _sla_for(sla, rows[0].channel)))
    in_period = [o for o in outcomes if since_us is None or o.started >= since_us]
    total, groups = _Tally(), defaultdict[str, _Tally](_Tally)
    for outcome in in_period:
        _add(total, outcome)
        if by is not None:
            _add(groups[_key(outcome, by)], outcome)
    boundaries = _boundaries(since_us if since_us is not None else first_seen, until_us,
                             bucket)
    counts = [0] * (len(boundaries) + 1)
    for outcome in outcomes:  # every conversation, started in the period or before
        for begin, end in outcome.unresolved_spans:
            lo = bisect.bisect_left(boundaries, begin)
            hi = len(boundaries) if end is None else bisect.bisect_left(boundaries, end)
            if lo < hi:
                counts[lo] += 1
                counts[hi] -= 1
    backlog, running = [], 0
    for index, boundary in enumerate(boundaries):
        running += counts[index]
        backlog.append((_at(boundary), running))
    pairs, customers = _journeys(touches, int(journey_window.total_seconds() * 1_000_000))
    return KpiReport(
        since=since, until=until, by=by, bucket=bucket, total=total.freeze("all"),
        groups=tuple(groups[k].freeze(k) for k in sorted(groups)),
        backlog=tuple(backlog),
        channel_mix=tuple((day, dict(sorted(mix[day].items())))
                          for day in _bucket_days(boundaries, bucket)),
        journeys=dict(pairs.most_common()), journey_customers=customers,
        breaches=tuple(b for o in in_period for b in o.breaches))

