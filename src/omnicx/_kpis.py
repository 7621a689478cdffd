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
import itertools
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple, cast

import attrs

from ._business import SLA
from ._collector import paused
from ._errors import ConfigurationError, StorageError
from ._feed import ChangeKind
from ._lifecycle import AUTOMATIC_TYPES, ConversationChange, Lifecycle, fold, is_bot
from .storage._base import ActivityRow, EventRecord, Store, Transaction
from .storage._sql import _json_loads

_log = logging.getLogger("omnicx.kpis")
# How a read opens the recorded lifecycle changes (`History.kpis` passes its vault's).
OpenChanges = Callable[[Transaction, list[tuple[int, EventRecord]]],
                       Iterable[ConversationChange]]

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


class _Summary(NamedTuple):
    """One conversation as the KPIs need it, folded over its activity (times in µs).

    Stored (``kpi_summaries``) as a JSON array in this field order; `_FORMAT`
    names the layout, and a stored layout of another name is rebuilt.
    """

    channel: str
    started: int  # its first interaction
    last_at: int  # its latest interaction or change: right for periods that end after it
    inbound: int
    outbound: int
    outbound_first: bool
    first_inbound: int | None
    first_response: int | None
    next_responses: list[int]
    resolution: int | None
    resolved: bool
    ever_resolved: bool
    reopened: bool
    bot: bool
    contained: bool
    handed_over: bool
    assignee: str | None
    team: str | None
    spans: list[tuple[int, int | None]]  # unresolved after the customer wrote (backlog)
    days: list[tuple[int, int]]  # (day since the epoch, the customer's messages that day)
    touches: list[tuple[int, list[int]]]  # (contact, times of the customer's messages)


_FIELD = {name: itemgetter(index) for index, name in enumerate(_Summary._fields)}
_FORMAT = "1"
_SETTING = "kpi_summaries"  # omnicx_meta: "<format>:<feed position the rows reflect>"


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


def _summarize(rows: list[ActivityRow], changes: Sequence[ConversationChange],
               until_us: int | None) -> _Summary:
    """Fold one conversation (its rows in time order, its changes) into a `_Summary`."""
    machine = fold(rows, changes, until_us=until_us)
    _, _, _, channel, direction, _, _, started = rows[0]
    resolved = machine.state is Lifecycle.RESOLVED
    start = machine.first_inbound
    resolution = None
    if resolved and machine.resolved_at is not None:
        resolution = machine.resolved_at - (start if start is not None else started)
    assignee, team = machine.first_responder if machine.first_response is not None else (
        machine.assignee, machine.team)
    touches: dict[int, list[int]] = {}
    days: dict[int, int] = {}
    automatic_types, last = AUTOMATIC_TYPES, rows[-1][7]
    for _, _, contact, _, way, kind, message_type, at in rows:
        if until_us is not None and at >= until_us:
            break
        if way != "inbound" or kind == "system" or message_type in automatic_types:
            continue
        touches.setdefault(contact, []).append(at)
        day = at // _DAY_US
        days[day] = days.get(day, 0) + 1
    if changes:
        last = max(last, _us(changes[-1].occurred_at))
    return _Summary(
        channel=channel, started=started, last_at=last, inbound=machine.inbound,
        outbound=machine.outbound, outbound_first=direction == "outbound",
        first_inbound=start, first_response=machine.first_response,
        next_responses=machine.next_responses, resolution=resolution, resolved=resolved,
        ever_resolved=machine.resolved_at is not None, reopened=machine.reopened > 0,
        bot=machine.bot, contained=machine.bot and not machine.handed_over and resolved,
        handed_over=machine.handed_over, assignee=assignee, team=team, spans=machine.spans,
        days=sorted(days.items()), touches=sorted(touches.items()))


def _breaches(cid: int, s: _Summary, sla: SLA, until_us: int) -> list[SlaBreach]:
    start = s.first_inbound
    if start is None:
        return []
    met = start + s.first_response if s.first_response is not None else None
    resolved = start + s.resolution if s.resolution is not None else None
    found = [_breach(cid, s.channel, "first_response", sla.first_response, sla, start, met,
                     until_us),
             _breach(cid, s.channel, "resolution", sla.resolution, sla, start, resolved,
                     until_us)]
    return [b for b in found if b is not None]


def _bucket_start(day: dt.date, bucket: str) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) if bucket == "week" else day


def _key(summary: _Summary, by: str | None) -> str:
    if by == "channel":
        return summary.channel
    if by in {"day", "week"}:
        return _bucket_start(_at(summary.started).date(), by).isoformat()
    if by == "team":
        return summary.team or "(none)"
    if by == "agent":
        assignee = summary.assignee
        if assignee is None or is_bot(assignee) or assignee.startswith("team:") \
                or assignee == "human":
            return "(unassigned)"
        return assignee
    return "all"


def _group(key: str, summaries: list[_Summary], breaches: int) -> KpiGroup:
    """The KPIs of these conversations (one pass per figure, in C: a read sums
    hundreds of thousands)."""
    def total(name: str) -> int:
        return sum(map(_FIELD[name], summaries))

    def present(name: str) -> list[int]:
        return [value for value in map(_FIELD[name], summaries) if value is not None]

    resolved = total("resolved")
    return KpiGroup(
        key=key, conversations=len(summaries), inbound=total("inbound"),
        outbound=total("outbound"), outbound_first=total("outbound_first"),
        first_response=Durations.of(present("first_response")),
        next_response=Durations.of(
            list(itertools.chain.from_iterable(map(_FIELD["next_responses"], summaries)))),
        resolution=Durations.of(present("resolution")), resolved=resolved,
        reopened=total("reopened"), unresolved=len(summaries) - resolved,
        bot_conversations=total("bot"), bot_contained=total("contained"),
        handed_over=total("handed_over"), sla_breaches=breaches,
        # resolved implies ever resolved (only a recorded resolution resolves)
        reopened_unresolved=total("ever_resolved") - resolved)


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


def _journeys(segments: Mapping[int, list[tuple[int, int, str, list[int]]]],
              window_us: int) -> tuple[Counter[str], int]:
    """Pairs "a→b" of a customer's message on channel a followed within the window by
    their next message on another channel b; and how many customers made one.

    ``segments``: per customer (root contact), their messages in each
    conversation: (first, last, channel, times). Messages within one
    conversation share its channel, so when a customer's conversations follow
    each other without overlapping (the rule) only the step from one to the
    next can change channel; overlapping ones are merged message by message.
    """
    pairs: Counter[str] = Counter()
    customers = 0
    for runs in segments.values():
        if len(runs) < 2:
            continue
        runs.sort(key=itemgetter(0, 1))
        steps: Iterable[tuple[int, str, int, str]]
        if all(a[1] < b[0] for a, b in itertools.pairwise(runs)):
            steps = ((a[1], a[2], b[0], b[2]) for a, b in itertools.pairwise(runs))
        else:  # on a tie the channel's name orders, as a sort of (time, channel) does
            merged = sorted((at, channel) for _, _, channel, times in runs for at in times)
            steps = ((a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(merged))
        seen = False
        for before, was, at, channel in steps:
            if channel != was and at - before <= window_us:
                pairs[f"{was}→{channel}"] += 1
                seen = True
        customers += seen
    return pairs, customers


# Past this many changes since the summaries' position (or a quarter of the
# conversations, if more), or past a quarter of the conversations to fold again
# up to a period's end, one scan of everything is cheaper than finding them.
_REFOLD_CHANGES = 10_000
_REFOLD_SHARE = 4
# The changes that change a summary (each names its conversation). Nothing
# else does: merges move no interaction (summaries hold contacts, not roots),
# erasure and statuses leave the skeleton alone, and nothing deletes one.
_REFOLDS = frozenset({ChangeKind.INTERACTION_CREATED, ChangeKind.CONVERSATION_STATE_CHANGED})


def _fold_conversations(
    tx: Transaction,
    open_changes: OpenChanges,
    until: dt.datetime | None,
    conversation_ids: Collection[int] | None,
) -> dict[int, _Summary]:
    """`_summarize` every conversation (or these) over its activity before ``until``."""
    wanted = None if conversation_ids is None else sorted(conversation_ids)
    if wanted == []:
        return {}
    changes: dict[int, list[ConversationChange]] = defaultdict(list)
    for change in open_changes(tx, tx.conversation_events(wanted)):
        changes[change.conversation_id].append(change)
    until_us = None if until is None else _us(until)
    return {cid: _summarize(list(rows), changes.get(cid, ()), until_us)
            for cid, rows in groupby(tx.activity(until, conversation_ids=wanted),
                                     key=itemgetter(1))}


def _summaries(
    store: Store,
    open_changes: OpenChanges,
    until: dt.datetime,
) -> tuple[dict[int, _Summary], dict[int, int]]:
    """Every conversation started before ``until``, summarised as of ``until``; and the
    merged contacts' roots.

    The summaries as of now are kept in the store (``kpi_summaries``) with the
    change-feed position they reflect: a read folds again only the
    conversations the feed names since (a new interaction, a lifecycle
    change), and stores them. Merges, erasure and statuses change no summary
    (they hold contacts, not roots; skeletons, not content). A conversation
    active at or after ``until`` is folded again up to ``until``, not stored.
    """
    until_us = _us(until)
    with store.reading() as tx:
        position = tx.last_change()
        layout, _, after = (tx.setting(_SETTING) or "").partition(":")
        known = int(after) if layout == _FORMAT and after.isdigit() else -1
        kept: dict[int, _Summary] = {}
        stale: set[int] | None = None  # None: fold every conversation again
        if known >= 0:
            loads, make = _json_loads, _Summary._make
            try:
                kept = {cid: make(loads(text)) for cid, text in tx.kpi_summaries()}
            except (TypeError, ValueError):  # a row not of this layout: fold everything
                kept, known = {}, -1
        if known >= 0:
            limit = max(_REFOLD_CHANGES, len(kept) // _REFOLD_SHARE)
            changed = tx.changes(known, limit + 1) if position > known else []
            named = [c.data.get("conversation_id") for c in changed if c.kind in _REFOLDS]
            if len(changed) <= limit and all(isinstance(cid, int) for cid in named):
                stale = set(cast(list[int], named))
        fresh = _fold_conversations(tx, open_changes, None, stale)
        summaries = dict(fresh) if stale is None else {**kept, **fresh}  # fresh is kept
        late = [cid for cid, s in summaries.items() if s.last_at >= until_us]
        if late:
            everything = len(late) > len(summaries) // _REFOLD_SHARE
            again = _fold_conversations(tx, open_changes, until, None if everything else late)
            if everything:
                summaries = again
            else:
                summaries.update(again)
                for cid in late:
                    if cid not in again:  # it started at or after until
                        del summaries[cid]
        roots = tx.merged_contacts()
    if position != known or fresh:
        rows = [(cid, _json_dumps(s)) for cid, s in fresh.items()]

        def keep(tx: Transaction) -> None:
            # The meta row first: concurrent writers of summaries queue on it.
            tx.set_setting(_SETTING, f"{_FORMAT}:{position}")
            tx.store_kpi_summaries(rows, replace=stale is None)

        try:
            store.atomic(keep)
        except StorageError as exc:  # a read-only history: the KPIs stand, unkept
            _log.info("KPI summaries not kept: %s", exc)
    return summaries, roots


def _json_dumps(summary: _Summary) -> str:
    return json.dumps(summary, separators=(",", ":"))


@paused()  # a read builds a few objects per conversation, none in a cycle
def compute_kpis(
    store: Store,
    open_changes: OpenChanges,
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
    summaries, roots = _summaries(store, open_changes, until)
    groups: dict[str, list[_Summary]] = defaultdict(list)
    breaches: list[SlaBreach] = []
    breach_counts: Counter[str] = Counter()
    mix: dict[int, Counter[str]] = defaultdict(Counter)  # by day since the epoch
    segments: dict[int, list[tuple[int, int, str, list[int]]]] = defaultdict(list)
    earliest = -(2**63) if since_us is None else since_us  # below any stored time
    for cid, summary in summaries.items():
        channel = summary.channel
        if summary.started >= earliest:  # in the period: every message counts
            for day, count in summary.days:
                mix[day][channel] += count
            for contact, times in summary.touches:
                segments[roots.get(contact, contact)].append(
                    (times[0], times[-1], channel, times))
            found = _breaches(cid, summary, sla_of, until_us) if (
                sla_of := _sla_for(sla, channel)) is not None else []
            key = _key(summary, by)
            groups[key].append(summary)
            if found:
                breaches.extend(found)
                breach_counts[key] += len(found)
            continue
        for contact, all_times in summary.touches:  # started before: its later messages
            times = all_times[bisect.bisect_left(all_times, earliest):]
            if times:
                segments[roots.get(contact, contact)].append(
                    (times[0], times[-1], channel, times))
                for day, count in Counter(at // _DAY_US for at in times).items():
                    mix[day][channel] += count
    first_seen = min((s.started for s in summaries.values()), default=until_us)
    boundaries = _boundaries(since_us if since_us is not None else first_seen, until_us,
                             bucket)
    counts = [0] * (len(boundaries) + 1)
    for summary in summaries.values():  # every conversation, started in the period or before
        for begin, end in summary.spans:
            lo = bisect.bisect_left(boundaries, begin)
            hi = len(boundaries) if end is None else bisect.bisect_left(boundaries, end)
            if lo < hi:
                counts[lo] += 1
                counts[hi] -= 1
    backlog, running = [], 0
    for index, boundary in enumerate(boundaries):
        running += counts[index]
        backlog.append((_at(boundary), running))
    pairs, customers = _journeys(segments, int(journey_window.total_seconds() * 1_000_000))
    in_period = list(itertools.chain.from_iterable(groups.values()))
    return KpiReport(
        since=since, until=until, by=by, bucket=bucket,
        total=_group("all", in_period, len(breaches)),
        groups=() if by is None else tuple(
            _group(k, groups[k], breach_counts[k]) for k in sorted(groups)),
        backlog=tuple(backlog),
        channel_mix=_mix_by_bucket(mix, _bucket_days(boundaries, bucket), bucket),
        journeys=dict(pairs.most_common()), journey_customers=customers,
        breaches=tuple(breaches))
