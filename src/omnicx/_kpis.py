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
from operator import itemgetter
from typing import Any

import attrs

from ._business import SLA
from ._errors import ConfigurationError
from ._lifecycle import AUTOMATIC_TYPES, ConversationChange, Lifecycle, fold, is_bot
from .storage._base import ActivityRow, EventRecord, Store, Transaction

__all__ = ["Durations", "KpiGroup", "KpiReport", "SlaBreach", "compute_kpis"]

_GROUPINGS = ("channel", "team", "agent", "day", "week", None)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000


def _us(at: dt.datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


@attrs.frozen(kw_only=True)
class Durations:
    """Summary of a set of durations: how many, minimum, mean, median, 90th percentile
    (nearest rank: an observed value) and maximum."""

    count: int = 0
    min: dt.timedelta | None = None
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

        return cls(count=len(ordered), min=dt.timedelta(microseconds=ordered[0]),
                   mean=dt.timedelta(microseconds=sum(ordered) // len(ordered)),
                   median=rank(0.5), p90=rank(0.9),
                   max=dt.timedelta(microseconds=ordered[-1]))

    def to_dict(self) -> dict[str, Any]:
        def seconds(value: dt.timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {"count": self.count, "min_s": seconds(self.min), "mean_s": seconds(self.mean),
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


def _breach(cid: int, channel: str, target: str, limit: dt.timedelta | None, sla: SLA,
            start_us: int, met_us: int | None, until_us: int) -> SlaBreach | None:
    if limit is None:
        return None
    start = _at(start_us)
    elapsed = sla.measure(start, _at(met_us if met_us is not None else until_us))
    if elapsed <= limit:
        return None
    return SlaBreach(conversation_id=cid, channel=channel, target=target, started_at=start,
                     limit=limit, elapsed=elapsed,
                     met_at=_at(met_us) if met_us is not None else None)


def _measure(cid: int, rows: list[ActivityRow], changes: Sequence[ConversationChange],
             until_us: int, sla: SLA | None) -> _Outcome:
    machine = fold(rows, changes, until_us=until_us)
    _, _, _, channel, direction, _, _, started = rows[0]
    resolved = machine.state is Lifecycle.RESOLVED
    start = machine.first_inbound
    resolution = None
    if resolved and machine.resolved_at is not None:
        resolution = machine.resolved_at - (start if start is not None else started)
    breaches: list[SlaBreach] = []
    if sla is not None and start is not None:
        met = start + machine.first_response if machine.first_response is not None else None
        found = [_breach(cid, channel, "first_response", sla.first_response, sla, start,
                         met, until_us),
                 _breach(cid, channel, "resolution", sla.resolution, sla, start,
                         start + resolution if resolution is not None else None, until_us)]
        breaches = [b for b in found if b is not None]
    assignee, team = machine.first_responder if machine.first_response is not None else (
        machine.assignee, machine.team)
    return _Outcome(
        key_channel=channel, started=started, inbound=machine.inbound,
        outbound=machine.outbound, outbound_first=direction == "outbound",
        first_response=machine.first_response, next_responses=tuple(machine.next_responses),
        resolution=resolution, resolved=resolved,
        ever_resolved=machine.resolved_at is not None, reopened=machine.reopened > 0,
        bot=machine.bot, contained=machine.bot and not machine.handed_over and resolved,
        handed_over=machine.handed_over, assignee=assignee, team=team,
        unresolved_spans=tuple(machine.spans), breaches=tuple(breaches))


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


def _mix_by_bucket(mix: Mapping[int, Counter[str]], buckets: list[dt.date],
                   bucket: str) -> tuple[tuple[dt.date, Mapping[str, int]], ...]:
    totals: dict[dt.date, Counter[str]] = {day: Counter() for day in buckets}
    for day_index, counts in mix.items():
        day = _bucket_start(_EPOCH.date() + dt.timedelta(days=day_index), bucket)
        totals.setdefault(day, Counter()).update(counts)
    return tuple((day, dict(sorted(totals[day].items()))) for day in sorted(totals))


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
        # Inbound messages per (day since the epoch, channel).
        day_channel: dict[tuple[int, str], int] = {}
        first_seen = until_us
        # The loop runs once per interaction, so it keeps to locals and plain tuples.
        earliest = -(2**63) if since_us is None else since_us  # below any stored time
        automatic_types, counted, add_touch = AUTOMATIC_TYPES, day_channel.get, touches.append
        for cid, group in groupby(tx.activity(until), key=itemgetter(1)):
            rows = list(group)
            started = rows[0][7]
            first_seen = min(first_seen, started)
            for _, _, root_id, channel, direction, kind, message_type, at in rows:
                if at < earliest or direction != "inbound" or kind == "system" \
                        or message_type in automatic_types:
                    continue
                add_touch((root_id, at, channel, direction))
                key = (at // _DAY_US, channel)
                day_channel[key] = counted(key, 0) + 1
            outcomes.append(_measure(cid, rows, changes.get(cid, ()), until_us,
                                     _sla_for(sla, rows[0][3])))
        mix: dict[int, Counter[str]] = defaultdict(Counter)  # by day since the epoch
        for (day, channel), count in day_channel.items():
            mix[day][channel] += count
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
        channel_mix=_mix_by_bucket(mix, _bucket_days(boundaries, bucket), bucket),
        journeys=dict(pairs.most_common()), journey_customers=customers,
        breaches=tuple(b for o in in_period for b in o.breaches))

