"""Conversation lifecycle and KPIs against a fixture history whose figures were
computed by hand (the comments give each one), plus hypothesis properties."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import SLA, BusinessHours, Lifecycle, MessageEvent
from omnicx.typing import Headers

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday; 09:00 in Zurich


def at(minutes: float, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes)


class Script:
    """A minimal adapter: the body is a JSON list of messages for one channel."""

    def __init__(self, channel: str, account: str = "acct") -> None:
        self.channel = omnicx.Channel(channel)
        self.account = account

    def verify(self, body: bytes, headers: Headers) -> None:
        return None

    def parse(self, body: bytes, headers: Headers) -> Sequence[MessageEvent]:
        events = []
        for m in json.loads(body):
            kind = "phone" if m["from"].startswith("+") else "email"
            events.append(MessageEvent(
                channel=self.channel, account=self.account, external_id=m["id"],
                direction=m.get("dir", "inbound"),
                contact=(omnicx.Address(kind=kind, value=m["from"]),),
                occurred_at=dt.datetime.fromisoformat(m["at"]), text=m.get("text", "..."),
                kind=m.get("kind", "message"), message_type=m.get("type"),
                thread_key=m.get("thread", "t")))
        return events


def say(history: omnicx.History, channel: str, ident: str, who: str, when: dt.datetime,
        **extra: Any) -> omnicx.Interaction:
    body = json.dumps([{"id": ident, "from": who, "at": when.isoformat(), **extra}]).encode()
    (item,) = history.receive(Script(channel), body=body).interactions
    return item


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_history(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "memory":
        history = omnicx.open(":memory:", key=b"k" * 32)
    elif request.param == "sqlite":
        history = omnicx.open(tmp_path / "h.db", key=b"k" * 32)
    else:
        schema_fixture = request.getfixturevalue("postgres_schema")
        url, schema = schema_fixture
        history = omnicx.open(url, schema=schema, key=b"k" * 32)
    with history:
        yield history


def build(history: omnicx.History) -> dict[str, int]:
    """The fixture history. Conversation ids by name."""
    c = history.conversations
    ids: dict[str, int] = {}
    # A (email, alice): FRT 60 min (an auto-reply at +1 is not a response), next
    # response 30 min, resolved at +180, reopened by alice at +240, answered after
    # 10 min, resolved again at +300: resolution 300 min, reopened once.
    a = say(history, "email", "a1", "alice@example.com", at(0))
    ids["A"] = a.conversation_id
    say(history, "email", "a2", "alice@example.com", at(1), dir="outbound", type="auto_reply")
    say(history, "email", "a3", "alice@example.com", at(60), dir="outbound")
    say(history, "email", "a4", "alice@example.com", at(120))
    say(history, "email", "a5", "alice@example.com", at(150), dir="outbound")
    c.resolve(a, by="agent:1", at=at(180))
    say(history, "email", "a6", "alice@example.com", at(240))
    say(history, "email", "a7", "alice@example.com", at(250), dir="outbound")
    c.resolve(a, by="agent:1", at=at(300))
    # B (whatsapp, bob): a bot answers first (not a human response), bob asks for a
    # person, handover, agent:17 answers at +20: FRT 20 min. Never resolved.
    b = say(history, "whatsapp", "b1", "+41791110001", at(0))
    ids["B"] = b.conversation_id
    c.assign(b, to="bot:faq", at=at(0.1))
    say(history, "whatsapp", "b2", "+41791110001", at(0.2), dir="outbound")
    say(history, "whatsapp", "b3", "+41791110001", at(2), text="a person please")
    c.handover(b, to="human", reason="asked for an agent", by="bot:faq", at=at(3))
    c.assign(b, to="agent:17", team="billing", at=at(4))
    say(history, "whatsapp", "b4", "+41791110001", at(20), dir="outbound")
    # C (whatsapp, carol): the bot answers and resolves: contained, no human FRT.
    cc = say(history, "whatsapp", "c1", "+41791110002", at(60))
    ids["C"] = cc.conversation_id
    c.assign(cc, to="bot:faq", at=at(60.1))
    say(history, "whatsapp", "c2", "+41791110002", at(60.2), dir="outbound")
    c.resolve(cc, by="bot:faq", at=at(65))
    # D (sms, dave): we wrote first, nobody answered: outbound-first, no backlog.
    d = say(history, "sms", "d1", "+41791110003", at(120), dir="outbound")
    ids["D"] = d.conversation_id
    # E (email, erin): Friday 23:00 Zurich, answered Monday 09:30 Zurich: 30
    # business minutes, 58.5 hours on the wall clock.
    friday = dt.datetime(2026, 11, 6, 22, 0, tzinfo=UTC)
    e = say(history, "email", "e1", "erin@example.com", friday)
    ids["E"] = e.conversation_id
    say(history, "email", "e2", "erin@example.com",
        dt.datetime(2026, 11, 9, 8, 30, tzinfo=UTC), dir="outbound")
    # Alice calls 30 minutes after her first email, from a phone number that is
    # merged into her contact afterwards: a cross-channel journey email→phone.
    call = say(history, "phone", "p1", "+41791110009", at(30), kind="call")
    ids["P"] = call.conversation_id
    alice = history.contacts.find("alice@example.com")
    phone = history.contacts.find("+41791110009")
    assert alice is not None and phone is not None
    history.contacts.merge(alice, phone)
    return ids


ZURICH = BusinessHours(timezone="Europe/Zurich", hours={"mon-fri": "09:00-17:00"})
UNTIL = dt.datetime(2026, 11, 10, tzinfo=UTC)


def test_kpis_equal_hand_computed_values(store_history: omnicx.History) -> None:
    history = store_history
    ids = build(history)
    report = history.kpis(since=T0, until=UNTIL, by="channel",
                          sla={"email": SLA(first_response=dt.timedelta(minutes=30),
                                            hours=ZURICH)})
    total = report.total
    assert total.conversations == 6  # A B C D E P
    assert total.outbound_first == 1  # D
    # First responses: A 60, B 20, E 58.5 h; C had only the bot, D no customer, P none.
    assert total.first_response.count == 3
    assert total.first_response.median == dt.timedelta(minutes=60)
    assert total.first_response.max == dt.timedelta(hours=58, minutes=30)
    # Next responses: A 30 and 10.
    assert sorted([total.next_response.median, total.next_response.max]) == [
        dt.timedelta(minutes=10), dt.timedelta(minutes=30)]
    assert total.next_response.count == 2
    # Resolutions: A 300 min, C 5 min.
    assert total.resolved == 2
    assert total.resolution.count == 2
    assert total.resolution.max == dt.timedelta(minutes=300)
    assert total.reopened == 1 and total.reopen_rate == 0.5
    assert total.bot_conversations == 2 and total.bot_contained == 1
    assert total.handed_over == 1 and total.handover_rate == 0.5
    groups = {g.key: g for g in report.groups}
    assert set(groups) == {"email", "whatsapp", "sms", "phone"}
    assert groups["email"].conversations == 2
    assert groups["whatsapp"].first_response.count == 1
    # SLA: A's first answer took 60 business minutes against 30: one breach. E's took
    # exactly 30 business minutes (not over the target) despite 58.5 wall-clock hours.
    assert [(b.conversation_id, b.target) for b in report.breaches] == [
        (ids["A"], "first_response")]
    assert report.breaches[0].elapsed == dt.timedelta(minutes=60)
    # Backlog at the end of Monday: B (never resolved) and P (the call, open). E starts
    # on Friday. At the end: B, P and E (answered, not resolved).
    backlog = dict(report.backlog)
    assert backlog[dt.datetime(2026, 11, 3, tzinfo=UTC)] == 2
    assert backlog[UNTIL] == 3
    # Alice wrote (+0), called (+30), wrote again (+120): both moves are journeys.
    assert report.journeys == {"email→phone": 1, "phone→email": 1}
    assert report.journey_customers == 1
    mix = dict(report.channel_mix)
    assert mix[T0.date()] == {"email": 3, "phone": 1, "whatsapp": 3}


def test_by_agent_team_and_week(store_history: omnicx.History) -> None:
    build(store_history)
    by_agent = {g.key: g for g in store_history.kpis(since=T0, until=UNTIL, by="agent").groups}
    assert by_agent["agent:17"].first_response.median == dt.timedelta(minutes=20)
    by_team = {g.key: g for g in store_history.kpis(since=T0, until=UNTIL, by="team").groups}
    assert by_team["billing"].conversations == 1
    weeks = store_history.kpis(since=T0, until=UNTIL, by="week").groups
    assert [(g.key, g.conversations) for g in weeks] == [("2026-11-02", 6)]


def test_erased_content_still_counts(store_history: omnicx.History) -> None:
    history = store_history
    build(history)
    before = history.kpis(since=T0, until=UNTIL).to_dict()
    bob = history.contacts.find("+41791110001")
    assert bob is not None
    history.erase(bob)
    assert history.kpis(since=T0, until=UNTIL).to_dict() == before
    assert history.verify().ok


def test_lifecycle_state_and_chain(store_history: omnicx.History) -> None:
    history = store_history
    ids = build(history)
    c = history.conversations
    state = c.state(ids["A"])
    assert state.state is Lifecycle.RESOLVED and state.reopened == 1
    b = c.state(ids["B"])
    assert (b.state, b.assignee, b.team, b.handovers) == (Lifecycle.OPEN, "agent:17",
                                                          "billing", 1)
    assert [ch.action for ch in c.changes(ids["B"])] == ["assign", "handover", "assign"]
    assert c.changes(ids["B"])[1].reason == "asked for an agent"
    # a state in the past
    assert c.state(ids["A"], at=at(200)).state is Lifecycle.RESOLVED
    assert c.state(ids["A"], at=at(245)).state is Lifecycle.OPEN
    # snooze: open again when the time has come
    c.snooze(ids["B"], until=dt.datetime(2030, 1, 1, tzinfo=UTC))
    assert c.state(ids["B"]).state is Lifecycle.SNOOZED
    assert c.state(ids["B"], at=dt.datetime(2030, 1, 2, tzinfo=UTC)).state is Lifecycle.OPEN
    c.pending(ids["P"])
    assert c.state(ids["P"]).state is Lifecycle.PENDING
    assert history.verify().ok


def test_lifecycle_errors(history: omnicx.History) -> None:
    with pytest.raises(omnicx.NotFoundError):
        history.conversations.resolve(999)
    item = say(history, "email", "x1", "x@example.com", T0)
    with pytest.raises(omnicx.ConfigurationError):
        history.conversations.snooze(item, until=T0 - dt.timedelta(days=1))
    with pytest.raises(omnicx.ConfigurationError):
        history.conversations.assign(item, to="  ")
    with pytest.raises(omnicx.ConfigurationError):
        history.kpis(by="planet")
    with pytest.raises(omnicx.ConfigurationError):
        history.kpis(since=dt.datetime(2026, 1, 1))


def test_tampered_lifecycle_is_detected(tmp_path: Any) -> None:
    import sqlite3

    with omnicx.open(tmp_path / "h.db") as history:
        item = say(history, "email", "x1", "x@example.com", T0)
        history.conversations.resolve(item, at=at(5))
        assert history.verify().ok
    with sqlite3.connect(tmp_path / "h.db") as conn:
        conn.execute("UPDATE events SET event_id = replace(event_id, 'resolved', 'open')"
                     " WHERE kind = 'conversation'")
    with omnicx.open(tmp_path / "h.db") as history:
        assert not history.verify().ok


def test_business_hours() -> None:
    hours = BusinessHours(timezone="Europe/Zurich",
                          hours={"mon-fri": "08:00-12:00, 13:00-17:00"},
                          holidays=[dt.date(2026, 12, 25)])
    monday = dt.datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # 07:00 local
    assert hours.elapsed(monday, monday + dt.timedelta(hours=8)) == dt.timedelta(hours=6)
    christmas = dt.datetime(2026, 12, 25, 9, 0, tzinfo=UTC)
    assert hours.elapsed(christmas, christmas + dt.timedelta(hours=5)) == dt.timedelta(0)
    assert not hours.is_open(christmas)
    assert hours.is_open(dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    # Spring forward (29 March 2026, Zurich): Saturday and Sunday are closed; Monday
    # is 8 h and Tuesday until 14:00 local (12:00 UTC, now UTC+2) 5 h more.
    spring = dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert hours.elapsed(spring, spring + dt.timedelta(days=3)) == dt.timedelta(hours=13)
    for bad in ({"mon-fri": "9-17"}, {"moon": "09:00-17:00"}, {"mon": "17:00-09:00"},
                {"mon": "09:00-12:00, 11:00-13:00"}):
        with pytest.raises(omnicx.ConfigurationError):
            BusinessHours(hours=bad)
    with pytest.raises(omnicx.ConfigurationError):
        BusinessHours(timezone="Mars/Olympus")


moments = st.integers(min_value=0, max_value=10 * 24 * 60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(st.tuples(moments, st.sampled_from(
    ["in", "out", "auto", "resolve", "reopen", "pending", "bot", "human"])),
    min_size=1, max_size=25))
def test_properties(script: list[tuple[int, str]]) -> None:
    script = sorted(script)
    with omnicx.open(":memory:") as history:
        first: omnicx.Interaction | None = None
        for n, (minute, action) in enumerate(script):
            when = at(minute)
            if action in ("in", "out", "auto") or first is None:
                item = say(history, "webchat", f"m{n}", "visitor@example.com", when,
                           dir="outbound" if action in ("out", "auto") else "inbound",
                           type="auto_reply" if action == "auto" else None)
                first = first or item
            elif action in ("resolve", "reopen", "pending"):
                getattr(history.conversations, action)(first, at=when)
            else:
                history.conversations.handover(
                    first, to="bot:x" if action == "bot" else "human", at=when)
        until = at(11 * 24 * 60)
        report = history.kpis(since=T0, until=until, bucket="day")
        zero = dt.timedelta(0)
        total = report.total
        assert total.conversations == 1  # one visitor, one session
        for durations in (total.first_response, total.next_response, total.resolution):
            if durations.count:
                assert durations.min is not None and durations.min >= zero
                assert durations.min <= durations.median <= durations.max  # type: ignore[operator]
        # resolution is measured to the last resolution, never before the first answer
        if total.first_response.count and total.resolution.count:
            assert total.resolution.max >= total.first_response.max  # type: ignore[operator]
        assert all(n >= 0 for _, n in report.backlog)
        assert total.reopened <= total.conversations
        assert total.resolved + total.unresolved == total.conversations


def _one_interaction(machine: Any, at: int, direction: str, kind: str,
                     message_type: str | None) -> None:
    """The rules as written before the fold went by runs: an independent reference."""
    from omnicx._lifecycle import AUTOMATIC_TYPES, is_bot

    machine._wake(at)
    automatic = kind == "system" or message_type in AUTOMATIC_TYPES
    if direction == "inbound":
        if automatic:
            if machine.state is None:
                machine.state = Lifecycle.PENDING
            return
        machine.inbound += 1
        if machine.state is Lifecycle.RESOLVED:
            machine.reopened += 1
        machine.state = Lifecycle.OPEN
        if machine.first_inbound is None:
            machine.first_inbound = at
        if machine.waiting_since is None:
            machine.waiting_since = at
        machine._moved(at)
        return
    if direction != "outbound":
        if machine.state is None:
            machine.state = Lifecycle.OPEN
        return
    machine.outbound += 1
    if machine.state is None:
        machine.state = Lifecycle.PENDING
    if automatic:
        return
    if is_bot(machine.assignee):
        machine.bot = True
        return
    if machine.waiting_since is not None:
        if machine.first_response is None and machine.first_inbound is not None:
            machine.first_response = at - machine.first_inbound
            machine.first_responder = (machine.assignee, machine.team)
        else:
            machine.next_responses.append(at - machine.waiting_since)
        machine.waiting_since = None


_CHANGE_KINDS = {
    "resolve": ("resolved", None), "reopen": ("open", None), "pending": ("pending", None),
    "snooze": ("snoozed", None), "bot": (None, "bot:faq"), "agent": (None, "agent:7"),
    "team": (None, "team:billing")}


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(
    st.integers(min_value=0, max_value=100),
    st.sampled_from(["inbound", "outbound", "internal"]),
    st.sampled_from(["message", "system"]),
    st.sampled_from([None, "text", "auto_reply"])), max_size=30),
    changes=st.lists(st.tuples(st.integers(min_value=0, max_value=100),
                               st.sampled_from(sorted(_CHANGE_KINDS)),
                               st.integers(min_value=0, max_value=100)), max_size=8),
    handover=st.booleans(),
    until=st.none() | st.integers(min_value=0, max_value=110))
def test_the_fold_by_runs_equals_the_fold_one_interaction_at_a_time(
        rows: list[tuple[int, str, str, str | None]], changes: list[tuple[int, str, int]],
        handover: bool, until: int | None) -> None:
    from omnicx._lifecycle import ConversationChange, Fold, fold

    def moment(us: int) -> dt.datetime:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)

    rows.sort(key=lambda r: r[0])
    activity = [(n, 1, 1, "webchat", direction, kind, message_type, at)
                for n, (at, direction, kind, message_type) in enumerate(rows)]
    recorded = [ConversationChange(
        id=n, conversation_id=1,
        action="handover" if handover and _CHANGE_KINDS[kind][1] else "change",
        occurred_at=moment(at), state=_CHANGE_KINDS[kind][0], assignee=_CHANGE_KINDS[kind][1],
        until=moment(at + wake) if kind == "snooze" else None)
        for n, (at, kind, wake) in enumerate(sorted(changes))]
    # The reference: one interaction at a time, a change before any later interaction.
    reference, pending = Fold(), list(recorded)
    for row in rows:
        if until is not None and row[0] >= until:
            break
        while pending and pending[0].occurred_at < moment(row[0]):
            reference.change(pending.pop(0))
        _one_interaction(reference, *row)
    for change in pending:
        if until is not None and change.occurred_at >= moment(until):
            break
        reference.change(change)
    reference.finish(until)
    assert vars(fold(activity, recorded, until_us=until)) == vars(reference)
