"""The stored KPI summaries (``kpi_summaries``): whatever happened between two reads
(late messages, lifecycle changes, merges and unmerges, erasure, periods that
end in the past), KPIs read through the kept summaries equal KPIs folded from
scratch; a read folds again only what the change feed names."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import omnicx
from omnicx import SLA
from omnicx import _kpis as kpis_module
from omnicx.storage import SQLiteStore
from test_insight import T0, UNTIL, ZURICH, at, build, say

SLAS = {"email": SLA(first_response=dt.timedelta(hours=1), resolution=dt.timedelta(hours=4),
                     hours=ZURICH),
        "*": SLA(first_response=dt.timedelta(minutes=10))}


LATER = UNTIL + dt.timedelta(days=7)  # "now" in these tests: a fixed one, for equal breaches


def report(history: omnicx.History, **options: Any) -> dict[str, Any]:
    options.setdefault("until", LATER)
    return history.kpis(sla=SLAS, **options).to_dict()


def from_scratch(history: omnicx.History, **options: Any) -> dict[str, Any]:
    """The same KPIs with the kept summaries thrown away first (a full fold)."""
    history.store.atomic(lambda tx: tx.set_setting("kpi_summaries", "dropped"))
    return report(history, **options)


def stored(history: omnicx.History) -> dict[int, list[Any]]:
    with history.store.reading() as tx:
        return {cid: json.loads(text) for cid, text in tx.kpi_summaries()}


class Folds:
    """Counts the conversations folded (``_summarize`` calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = kpis_module._summarize

        def counted(*args: Any) -> Any:
            self.count += 1
            return original(*args)

        monkeypatch.setattr(kpis_module, "_summarize", counted)

    def since(self) -> int:
        count, self.count = self.count, 0
        return count


def test_a_read_refolds_only_what_changed(backend_history: omnicx.History,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    history = backend_history
    ids = build(history)
    folds = Folds(monkeypatch)
    first = report(history, since=T0, until=UNTIL)  # the first read folds everything
    assert folds.since() == len(ids)
    assert set(stored(history)) == set(ids.values())
    assert report(history, since=T0, until=UNTIL) == first
    assert folds.since() == 0  # nothing changed: nothing folded
    assert from_scratch(history, since=T0, until=UNTIL) == first
    assert folds.since() == len(ids)
    # A new message and a lifecycle change: their two conversations, nothing else.
    say(history, "email", "e3", "erin@example.com", at(5, UNTIL))
    history.conversations.resolve(ids["B"], at=at(6, UNTIL))
    history.contacts.merge(history.contacts.find("erin@example.com"),  # type: ignore[arg-type]
                           history.contacts.find("+41791110003"))  # type: ignore[arg-type]
    now = report(history)
    assert folds.since() == 2  # the merge changes no summary: they hold contacts, not roots
    assert now == from_scratch(history)
    assert now["total"]["conversations"] == len(ids)


def test_a_period_that_ends_in_the_past_folds_up_to_its_end(
        backend_history: omnicx.History) -> None:
    history = backend_history
    build(history)
    for minutes in (0, 30, 90, 200, 24 * 60, 4 * 24 * 60):
        until = at(minutes)
        assert report(history, until=until) == from_scratch(history, until=until)
        assert report(history, since=at(20), until=until, by="team") == from_scratch(
            history, since=at(20), until=until, by="team")


def test_a_read_of_a_past_period_keeps_summaries_as_of_now(tmp_path: Any) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        ids = build(history)
        # Folding everything for a period that ends while E is still going on (it
        # is answered on Monday) must keep E whole, not as of that end.
        saturday = dt.datetime(2026, 11, 7, tzinfo=dt.UTC)
        past = from_scratch(history, until=saturday)
        assert past["total"]["first_response"]["count"] == 2  # A, B, not yet E
        assert len(stored(history)) == len(ids)
        now = report(history)
        assert now["total"]["first_response"]["count"] == 3  # E answered on Monday
        assert now == from_scratch(history)


def test_erasure_and_unmerge_keep_the_summaries_right(backend_history: omnicx.History) -> None:
    history = backend_history
    build(history)
    report(history)
    alice = history.contacts.find("alice@example.com")
    phone = history.contacts.find("+41791110009")
    assert alice is not None and phone is not None
    with history.store.reading() as tx:
        (loser,) = [c for c in tx.merged_contacts() if c != alice.id]
    history.contacts.unmerge(alice, loser)
    assert report(history) == from_scratch(history)
    history.erase(alice)
    assert report(history) == from_scratch(history)


def test_summaries_hold_no_content(tmp_path: Any) -> None:
    with omnicx.open(tmp_path / "h.db", key=b"k" * 32) as history:
        build(history)
        history.kpis()
        text = json.dumps(stored(history))
    for secret in ("alice", "example.com", "+41", "a person please", "asked for an agent"):
        assert secret not in text


def test_a_history_that_cannot_keep_them_still_reports(tmp_path: Any,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        build(history)
        expected = from_scratch(history)
        history.store.atomic(lambda tx: tx.set_setting("kpi_summaries", "dropped"))

        def refuse(work: Any) -> Any:
            raise omnicx.StorageError("attempt to write a readonly database")

        monkeypatch.setattr(history.store, "atomic", refuse)
        with caplog.at_level("INFO", logger="omnicx.kpis"):
            assert report(history) == expected
        assert "not kept" in caplog.text


def test_another_process_writing_is_seen_through_the_feed(tmp_path: Any) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path) as reader, omnicx.open(path) as writer:
        build(writer)
        before = report(reader)
        say(writer, "sms", "d2", "+41791110003", at(10, UNTIL))
        after = report(reader)
        assert after != before
        assert after == from_scratch(reader)


def test_a_rebuild_after_many_changes_replaces_every_row(tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kpis_module, "_REFOLD_CHANGES", 3)
    with omnicx.open(tmp_path / "h.db") as history:
        ids = build(history)
        report(history)
        (_, row), *_ = stored(history).items()  # a row of no conversation
        history.store.atomic(lambda tx: tx.store_kpi_summaries([(10**9, json.dumps(row))],
                                                               replace=False))
        for n in range(5):  # more changes than the limit: one full fold, stale rows gone
            say(history, "email", f"x{n}", "erin@example.com", at(n, UNTIL))
        assert report(history) == from_scratch(history)
        assert set(stored(history)) == set(ids.values())


def test_an_older_layout_is_rebuilt(tmp_path: Any) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path) as history:
        build(history)
        expected = report(history)
        with history.store.reading() as tx:
            position = tx.last_change()
        history.store.atomic(lambda tx: (tx.set_setting("kpi_summaries", f"0:{position}"),
                                         tx.store_kpi_summaries([(1, "[1]")], replace=True)))
        assert report(history) == expected
        history.store.atomic(lambda tx: tx.store_kpi_summaries([(1, "[]")], replace=False))
        assert report(history) == expected  # a row of another shape: folded again
    assert SQLiteStore(path).schema_version() == 6


# -- hypothesis: any interleaving of writes and reads ----------------------------------------

CUSTOMERS = ("alice@example.com", "+41791110001", "+41791110002")
actions = st.one_of(
    st.tuples(st.just("say"), st.integers(0, 2), st.sampled_from(["email", "sms", "whatsapp"]),
              st.sampled_from(["in", "in", "out", "auto"]), st.integers(0, 3 * 24 * 60)),
    st.tuples(st.sampled_from(["resolve", "reopen", "pending", "bot", "human"]),
              st.integers(0, 2), st.sampled_from(["email", "sms", "whatsapp"]),
              st.integers(0, 3 * 24 * 60)),
    st.tuples(st.sampled_from(["merge", "unmerge"]), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("read"), st.none() | st.integers(0, 3 * 24 * 60),
              st.integers(0, 4 * 24 * 60)),
)


@pytest.mark.parametrize("share", [1, 10**9], ids=["refold-each", "refold-all"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, min_size=1, max_size=30))
def test_kept_summaries_equal_a_fold_from_scratch(share: int, script: list[tuple[Any, ...]]
                                                  ) -> None:
    note(repr(script))
    with omnicx.open(":memory:") as history, \
            mock.patch.object(kpis_module, "_REFOLD_SHARE", share):
        last: dict[tuple[int, str], omnicx.Interaction] = {}
        contacts: dict[int, int] = {}
        for n, action in enumerate(script):
            name = action[0]
            if name == "say":
                _, who, channel, way, minute = action
                address = CUSTOMERS[who] if channel == "email" or who else "+41791110000"
                item = say(history, channel, f"m{n}", address, at(minute),
                           dir="inbound" if way == "in" else "outbound",
                           type="auto_reply" if way == "auto" else None)
                last[who, channel] = item
                contacts.setdefault(who, item.contact_id)
            elif name in ("merge", "unmerge"):
                a, b = contacts.get(action[1]), contacts.get(action[2])
                if a is None or b is None or a == b:
                    continue
                try:
                    if name == "merge":
                        history.contacts.merge(a, b)
                    else:
                        history.contacts.unmerge(a, b)
                except omnicx.OmnicxError:
                    continue  # not roots, or not merged: nothing changed
            elif name == "read":
                since = None if action[1] is None else at(action[1])
                until = at(action[2])
                if since is not None and since > until:
                    since = None
                kept = report(history, since=since, until=until, journey_window=dt.timedelta(
                    hours=6))
                assert kept == from_scratch(history, since=since, until=until,
                                            journey_window=dt.timedelta(hours=6))
                rows = stored(history)  # whatever the period, the rows are as of now
                from_scratch(history)
                assert stored(history) == rows
            else:
                _, who, channel, minute = action
                target = last.get((who, channel))
                if target is None:
                    continue
                if name in ("bot", "human"):
                    history.conversations.handover(
                        target, to="bot:x" if name == "bot" else "human", at=at(minute))
                else:
                    getattr(history.conversations, name)(target, at=at(minute))
        assert report(history) == from_scratch(history)


def _journeys_message_by_message(touches: list[tuple[int, int, str]], window: int
                                 ) -> tuple[dict[str, int], int]:
    """The definition, plainly: each customer's messages in (time, channel) order."""
    pairs: dict[str, int] = {}
    customers = 0
    for root in sorted({t[0] for t in touches}):
        mine = sorted((at, channel) for r, at, channel in touches if r == root)
        seen = False
        for (before, was), (after, channel) in itertools.pairwise(mine):
            if channel != was and after - before <= window:
                pairs[f"{was}→{channel}"] = pairs.get(f"{was}→{channel}", 0) + 1
                seen = True
        customers += seen
    return pairs, customers


@settings(max_examples=300, deadline=None)
@given(conversations=st.lists(st.tuples(
    st.integers(0, 3), st.sampled_from(["email", "sms", "phone"]),
    st.lists(st.integers(0, 50), min_size=1, max_size=5)), max_size=12),
    window=st.integers(0, 20))
def test_journeys_by_conversation_equal_the_definition(
        conversations: list[tuple[int, str, list[int]]], window: int) -> None:
    segments: dict[int, list[tuple[int, int, str, list[int]]]] = {}
    for root, channel, times in conversations:
        ordered = sorted(times)
        segments.setdefault(root, []).append((ordered[0], ordered[-1], channel, ordered))
    touches = [(root, at, channel) for root, channel, times in conversations for at in times]
    pairs, customers = kpis_module._journeys(segments, window)
    assert (dict(pairs), customers) == _journeys_message_by_message(touches, window)
