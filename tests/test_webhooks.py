"""Outbound webhooks against a real HTTP receiver on 127.0.0.1.

The receiver (``tests/webhook_receiver.py``) is a small threaded HTTP
server that checks every request with the receiver-side library
(``standardwebhooks.Webhook(secret).verify``) and can be down, slow, failing
(500) or gone (410). Whatever it went through,
every change arrives at least once, signed, in order per contact.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

import omnicx
from omnicx import RetryPolicy
from omnicx.testing import WebChatPayloads
from webhook_receiver import Receiver, free_port

CHAT = WebChatPayloads()
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def receive_messages(history: omnicx.History, count: int, visitors: int = 3) -> None:
    for n in range(count):
        body, headers = CHAT.message(f"m{n}", visitor=f"v{n % visitors}",
                                     at=T0 + dt.timedelta(minutes=n))
        history.receive(CHAT.channel, body=body, headers=headers)


def test_every_change_arrives_through_down_slow_failing_receiver(
        history: omnicx.History) -> None:
    port = free_port()  # nothing listens there yet: the receiver is down
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hook = history.webhooks.add(f"http://127.0.0.1:{port}/omnicx", secret=secret)
    receive_messages(history, 9)
    changes = list(history.changes().items)
    assert len(changes) == 12  # 3 contacts, 9 interactions

    now = dt.datetime.now(dt.UTC)  # the retry clock starts when the changes were queued
    down = history.deliver_webhooks(now=now, timeout=0.5)
    # Only each contact's first delivery is tried: the others wait behind it.
    assert (down.attempted, down.delivered, down.failed) == (3, 0, 3)
    (first, *_) = history.webhooks.deliveries(webhook=hook)
    (attempt,) = history.webhooks.attempts(first)
    assert attempt.status_code is None and "Connect" in (attempt.error or "")
    assert history.deliver_webhooks(now=now + dt.timedelta(seconds=1)).attempted == 0

    receiver = Receiver(secret, port)
    try:
        receiver.mode, receiver.slow_for = "slow", 1.0
        now += dt.timedelta(hours=2)
        slow = history.deliver_webhooks(now=now, timeout=0.3)
        assert (slow.attempted, slow.failed) == (3, 3)
        assert "no answer" in (history.webhooks.attempts(first)[-1].error or "")

        receiver.mode = "fail"
        now += dt.timedelta(hours=2)
        failing = history.deliver_webhooks(now=now, timeout=2)
        assert (failing.attempted, failing.failed) == (3, 3)
        assert history.webhooks.attempts(first)[-1].status_code == 500

        receiver.mode = "ok"
        for _ in range(10):  # the worker's passes, the clock moving on
            now += dt.timedelta(hours=2)
            history.deliver_webhooks(now=now, timeout=2)
            if not history.webhooks.deliveries(state="pending"):
                break
    finally:
        receiver.close()

    assert receiver.rejected == 0
    arrived = {body["data"]["change_id"] for body in receiver.received}
    assert arrived == {c.id for c in changes}  # every change, at least once
    assert set(receiver.ids) == {f"msg_{c.id}" for c in changes}  # stable ids across retries
    by_id = {c.id: c for c in changes}
    for body in receiver.received:
        change = by_id[body["data"]["change_id"]]
        assert body["type"] == change.kind
        assert body["data"]["contact_id"] == change.contact_id
    # In order per contact: first arrivals follow the feed.
    firsts: dict[int, list[int]] = {}
    for body in receiver.received:
        data = body["data"]
        order = firsts.setdefault(data["contact_id"], [])
        if data["change_id"] not in order:
            order.append(data["change_id"])
    for order in firsts.values():
        assert order == sorted(order)
    assert len(history.webhooks.attempts(first)) == 4  # refused, timed out, 500, ok
    assert history.webhooks.deliveries(state="delivered", limit=100).__len__() == 12


def test_dead_letters_are_listed_and_resent(history: omnicx.History) -> None:
    secret = "whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    receiver = Receiver(secret)
    try:
        hook = history.webhooks.add(receiver.url, secret=secret,
                                    events={"interaction.created"})
        history.webhooks.retry = RetryPolicy(base=dt.timedelta(minutes=1),
                                             window=dt.timedelta(minutes=10), jitter=0)
        receiver.mode = "fail"
        receive_messages(history, 2, visitors=1)
        now = dt.datetime.now(dt.UTC)  # the retry clock starts when the changes were queued
        reports = []
        for _ in range(6):
            reports.append(history.deliver_webhooks(now=now))
            now += dt.timedelta(minutes=5)
        # The first dies when its window ends; then the second, no longer held
        # back behind it, is tried until its own window ends.
        assert sum(r.dead for r in reports) == 2
        dead = history.webhooks.dead()
        assert [d.webhook_id for d in dead] == [hook.id, hook.id]
        assert dead[0].change_id < dead[1].change_id
        # Tried at 0, 5 and 10 minutes; a retry after that would end past its window.
        assert [(d.last_error, d.attempts) for d in dead] == [("HTTP 500", 3), ("HTTP 500", 1)]
        assert [r.dead for r in reports].index(1) < len(reports) - 1

        receiver.mode = "ok"
        assert history.webhooks.resend(dead, now=now) == 2
        assert history.webhooks.dead() == []
        for _ in range(5):
            now += dt.timedelta(minutes=5)
            history.deliver_webhooks(now=now)
        assert history.webhooks.deliveries(state="pending") == []
        assert len({b["data"]["change_id"] for b in receiver.received}) == 2
        assert {b["type"] for b in receiver.received} == {"interaction.created"}
        # Delivered rows and their log can go; the cut-off is when they were delivered.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert history.webhooks.prune(older_than=dt.timedelta(days=1), now=later) == 0
        assert history.webhooks.prune(older_than=later) == 2
        assert history.webhooks.deliveries() == []
    finally:
        receiver.close()


def test_gone_turns_the_webhook_off(history: omnicx.History) -> None:
    receiver = Receiver("whsec_" + "C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
    try:
        hook = history.webhooks.add(receiver.url, secret=receiver.secret)
        receiver.mode = "gone"
        receive_messages(history, 3)
        report = history.deliver_webhooks()
        assert report.dead == report.attempted >= 1
        assert history.webhooks.get(hook.id).active is False
        assert history.webhooks.deliveries(state="pending") == []
    finally:
        receiver.close()


def test_secrets_are_checked_and_sealed_under_a_key(tmp_path: Path) -> None:
    key = b"\x01" * 32
    with omnicx.open(tmp_path / "h.db", key=key) as history:
        with pytest.raises(omnicx.ConfigurationError):
            history.webhooks.add("ftp://example.com/x")
        with pytest.raises(omnicx.ConfigurationError):
            history.webhooks.add("https://crm.example.ch/hook", secret="not base64!")
        with pytest.raises(omnicx.ConfigurationError):
            history.webhooks.add("https://crm.example.ch/hook", events={"no.such.kind"})
        hook = history.webhooks.add("https://crm.example.ch/hook")
        assert hook.secret.startswith("whsec_")
        assert history.webhooks.get(hook.id).secret == hook.secret
        assert hook.secret not in repr(hook)
    assert hook.secret.encode() not in (tmp_path / "h.db").read_bytes()
    assert hook.secret[6:].encode() not in (tmp_path / "h.db").read_bytes()
    with omnicx.open(tmp_path / "h.db", key=key) as again:
        assert again.webhooks.get(hook.id).secret == hook.secret


def test_the_worker_thread_delivers_until_stopped(history: omnicx.History) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = Receiver(secret)
    try:
        history.webhooks.add(receiver.url, secret=secret)
        # Four threads: contacts' deliveries go out side by side, each contact's in order.
        worker = omnicx.DeliveryWorker(history, interval=0.05, concurrency=4).start()
        receive_messages(history, 4)
        deadline = time.monotonic() + 10
        while len(receiver.received) < 7 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop(timeout=5)
    finally:
        receiver.close()
    assert len(receiver.received) == 7
    assert worker.total.delivered == 7
    for contact_id in {b["data"]["contact_id"] for b in receiver.received}:
        mine = [b["data"]["change_id"] for b in receiver.received
                if b["data"]["contact_id"] == contact_id]
        assert mine == sorted(mine)
    assert json.loads(json.dumps(receiver.received[0]))["type"] == "contact.created"


def test_a_pass_gives_back_what_it_cannot_send_within_its_lease(
        history: omnicx.History, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = Receiver(secret)
    try:
        history.webhooks.add(receiver.url, secret=secret, events={"interaction.created"})
        receive_messages(history, 3, visitors=1)
        # The pass starts and its first send starts in time; then the lease is nearly over.
        clock = iter([0.0, 0.0])
        monkeypatch.setattr(omnicx._webhooks, "_clock", lambda: next(clock, 1_000.0))
        report = history.deliver_webhooks()
        assert (report.attempted, report.delivered) == (1, 1)
        pending = history.webhooks.deliveries(state="pending")
        assert len(pending) == 2 and all(d.attempts == 0 for d in pending)
        monkeypatch.undo()
        assert history.deliver_webhooks().delivered == 2  # given back: due again at once
    finally:
        receiver.close()
    assert len(receiver.received) == 3


def test_the_worker_survives_a_failing_pass(history: omnicx.History,
                                            caplog: pytest.LogCaptureFixture) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = Receiver(secret)
    real = history.webhooks.deliver
    calls = []

    def flaky(**options: object) -> omnicx.DeliveryReport:
        calls.append(options)
        if len(calls) == 1:
            raise omnicx.StorageError("the database went away for a moment")
        return real(**options)  # type: ignore[arg-type]

    try:
        history.webhooks.add(receiver.url, secret=secret, events={"interaction.created"})
        receive_messages(history, 2)
        history.webhooks.deliver = flaky  # type: ignore[method-assign]
        with caplog.at_level("ERROR", logger="omnicx.webhooks"):
            worker = omnicx.DeliveryWorker(history, interval=0.05).start()
            deadline = time.monotonic() + 10
            while len(receiver.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            worker.stop(timeout=5)
    finally:
        receiver.close()
    assert "webhook delivery pass failed" in caplog.text
    assert len(receiver.received) == 2 and len(calls) >= 2
