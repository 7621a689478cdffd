"""Every write path reaches the feed, and the feed's rules hold for any input.

The conformance suite covers receive, merges, links, erasure and gaps on
every backend; this covers `send`, retention, batches with quarantine,
two delivery workers at once on PostgreSQL, and the cursor and retry rules
as properties (hypothesis).
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import Channel, Outgoing, RetryPolicy, SendResult
from omnicx._feed import decode_cursor
from omnicx.storage import MemoryStore
from omnicx.storage._feedrows import AttemptRecord, NewChange, encode_cursor
from omnicx.testing import FixableChannel, WebChatPayloads
from webhook_receiver import Receiver

CHAT = WebChatPayloads()
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def kinds(history: omnicx.History, after: str | None = None) -> list[str]:
    return [c.kind for c in history.changes(after=after, limit=1000).items]


@attrs.define
class Provider:
    """A `Sender` that accepts the message, or refuses it."""

    refuse: bool = False
    channel: Channel = Channel.WEBCHAT
    account: str = CHAT.site
    address_kinds: tuple[str, ...] = ("webchat",)

    def send(self, message: Outgoing) -> SendResult:
        if self.refuse:
            raise omnicx.SendError("number blocked", code=131026)
        return SendResult(external_id=f"prov-{message.client_id[-6:]}",
                          status=omnicx.Status.SENT)


def test_send_reports_the_new_interaction_and_its_status(history: omnicx.History) -> None:
    body, headers = CHAT.message("m1", at=T0)
    history.receive(CHAT.channel, body=body, headers=headers)
    contact = next(iter(history.contacts))
    cursor = history.changes().next_cursor
    sent = history.send(Provider(), to=contact, text="Your parcel left.")
    changes = history.changes(after=cursor).items
    assert [(c.kind, c.interaction_id) for c in changes] == [
        ("interaction.created", sent.id), ("interaction.status_changed", sent.id)]
    assert changes[0].data["direction"] == "outbound"
    assert changes[0].data["status"] == "pending"
    assert changes[1].data == {"status": "sent"}
    cursor = changes[-1].cursor
    with pytest.raises(omnicx.SendError):
        history.send(Provider(refuse=True), to=contact, text="again")
    failed = history.changes(after=cursor).items
    assert [(c.kind, c.data.get("status")) for c in failed] == [
        ("interaction.created", "pending"), ("interaction.status_changed", "failed")]


def test_retention_reports_what_it_erased(history: omnicx.History) -> None:
    body, headers = CHAT.message("m1", at=T0)
    history.receive(CHAT.channel, body=body, headers=headers)
    cursor = history.changes().next_cursor
    assert history.apply_retention(older_than=T0 + dt.timedelta(days=1)) == 1
    (change,) = history.changes(after=cursor).items
    assert change.kind == "contact.erased"
    assert change.data["before"] == "2026-01-06T09:00:00Z"


def test_a_quarantined_payload_is_no_change(history: omnicx.History) -> None:
    broken = FixableChannel(CHAT.channel)
    receipt = history.receive_batch(broken, [CHAT.message("m1")])
    assert receipt.quarantined == 1
    assert kinds(history) == []
    broken.fixed = True
    history.replay(receipt.raw_ids[0], broken)
    assert kinds(history) == ["contact.created", "interaction.created"]


@pytest.mark.postgres
def test_two_workers_at_once_on_postgres_deliver_everything(
        postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = Receiver(secret)
    try:
        with omnicx.open(url, schema=schema) as history:
            history.webhooks.add(receiver.url, secret=secret)
            for n in range(40):
                body, headers = CHAT.message(f"m{n}", visitor=f"v{n % 4}")
                history.receive(CHAT.channel, body=body, headers=headers)
            expected = {c.id for c in history.changes(limit=1000).items}
            errors: list[BaseException] = []

            def work() -> None:
                with omnicx.open(url, schema=schema) as mine:
                    deadline = time.monotonic() + 30
                    try:  # passes of 7 until nothing is pending (the other's leases end)
                        while (mine.webhooks.deliveries(state="pending", limit=1)
                               and time.monotonic() < deadline):
                            if not mine.deliver_webhooks(limit=7).attempted:
                                time.sleep(0.01)
                    except BaseException as exc:
                        errors.append(exc)

            workers = [threading.Thread(target=work) for _ in range(2)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert history.webhooks.deliveries(state="pending") == []
    finally:
        receiver.close()
    arrived = [b["data"]["change_id"] for b in receiver.received]
    assert set(arrived) == expected
    assert len(arrived) == len(expected)  # the leases kept the workers apart
    for contact_id in {b["data"]["contact_id"] for b in receiver.received}:
        mine = [b["data"]["change_id"] for b in receiver.received
                if b["data"]["contact_id"] == contact_id]
        assert mine == sorted(mine)


# -- the rules, for any input -------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=2**62))
def test_a_cursor_round_trips(position: int) -> None:
    assert decode_cursor(encode_cursor(position)) == position


@given(st.one_of(
    st.text(max_size=40),
    # Well-formed base64 of "<prefix>:<anything>": only "feed:<n >= 0>" is a cursor.
    st.builds(lambda prefix, rest: base64.urlsafe_b64encode(
        f"{prefix}:{rest}".encode()).decode().rstrip("="),
        st.sampled_from(["feed", "time", ""]),
        st.one_of(st.text(max_size=12), st.integers().map(str),
                  st.sampled_from([" 5", "+5", "05", "\u0665", "5 "])))))
def test_any_text_is_a_position_or_not_a_cursor(text: str) -> None:
    """Decoding never fails with anything but `NotFoundError`."""
    try:
        position = decode_cursor(text)
    except omnicx.NotFoundError:
        return
    assert position >= 0 and encode_cursor(position) == text.rstrip("=")


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=1))
def test_retry_delays_grow_within_the_cap(attempts: int, jitter: float) -> None:
    policy = RetryPolicy(base=dt.timedelta(seconds=5), cap=dt.timedelta(hours=1),
                         jitter=jitter)
    full = min(policy.cap, policy.base * 2 ** min(attempts - 1, 40))
    delay = policy.delay(attempts)
    assert full * (1 - jitter) - dt.timedelta(microseconds=1) <= delay <= full


@settings(max_examples=60, deadline=None)
@given(contacts=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=25),
       failures=st.lists(st.booleans(), max_size=80), limit=st.integers(min_value=1,
                                                                        max_value=6))
def test_the_outbox_delivers_everything_in_order_per_contact(
        contacts: list[int], failures: list[bool], limit: int) -> None:
    """Any mix of failures: each contact's first deliveries follow the feed."""
    store = MemoryStore()
    hook = store.atomic(lambda tx: tx.insert_webhook("http://127.0.0.1:9/", None, "s", None,
                                                     T0))
    store.atomic(lambda tx: tx.append_changes([
        NewChange(kind="interaction.created", at=T0, contact_id=c) for c in contacts]))
    outcomes = iter(failures)
    delivered: list[tuple[int | None, int]] = []
    now = T0
    for _ in range(200):
        claimed = store.atomic(
            lambda tx, at=now: tx.claim_deliveries(at, limit, at + dt.timedelta(minutes=1)))
        results = []
        stopped: set[int | None] = set()
        for delivery in claimed:  # each contact's queue stops at its first failure
            if delivery.contact_id in stopped:
                store.atomic(lambda tx, d=delivery.id, at=now: tx.release_deliveries([d], at))
                continue
            ok = not next(outcomes, False)
            attempt = AttemptRecord(delivery_id=delivery.id, attempted_at=now,
                                    status_code=204 if ok else 500,
                                    error=None if ok else "HTTP 500",
                                    duration=dt.timedelta(0))
            if ok:
                delivered.append((delivery.contact_id, delivery.change_id))
                results.append((attempt, "delivered", now))
            else:
                stopped.add(delivery.contact_id)
                results.append((attempt, "pending", now + dt.timedelta(seconds=30)))
        store.atomic(lambda tx, r=results: tx.record_attempts(r))
        now += dt.timedelta(seconds=10)
        with store.reading() as tx:
            if not tx.deliveries(state="pending", webhook_id=hook, after=0, limit=1):
                break
    assert sorted(change for _, change in delivered) == list(range(1, len(contacts) + 1))
    for contact in set(contacts):
        mine = [change for who, change in delivered if who == contact]
        assert mine == sorted(mine)


_OPS = st.lists(st.one_of(
    st.tuples(st.just("message"), st.integers(0, 6), st.integers(0, 2)),
    st.tuples(st.just("agent"), st.integers(0, 6), st.integers(0, 2)),
    st.tuples(st.just("status"), st.integers(0, 6), st.sampled_from(["delivered", "read"])),
), max_size=30)


@settings(max_examples=40, deadline=None)
@given(_OPS)
def test_the_feed_mirrors_the_history_for_any_arrival_order(ops: list[tuple[str, int, object]]
                                                            ) -> None:
    """Messages, agent messages and statuses in any order, repeated at will:
    the feed has each interaction, contact and gap once and every status move."""
    with omnicx.History(MemoryStore()) as history:
        for op, n, extra in ops:
            if op == "message":
                built = CHAT.message(f"m{n}", visitor=f"v{extra}")
            elif op == "agent":
                built = CHAT.message(f"a{n}", visitor=f"v{extra}", sender="agent")
            else:
                built = CHAT.status(f"a{n}", str(extra))
            history.receive(CHAT.channel, body=built[0], headers=built[1])
        changes = history.changes(limit=10_000).items
        by_kind: dict[str, list[omnicx.Change]] = {}
        for change in changes:
            by_kind.setdefault(change.kind, []).append(change)
        contacts = list(history.contacts)
        stored = [i for c in contacts for i in history.timeline(c, limit=1000).items]
        created = [c.interaction_id for c in by_kind.get("interaction.created", [])]
        assert sorted(created) == sorted(i.id for i in stored)
        assert sorted(c.contact_id for c in by_kind.get("contact.created", [])) == sorted(
            c.id for c in contacts)
        ladder = {"pending": 0, "sent": 10, "delivered": 20, "read": 30}
        moves: dict[int, list[str]] = {}
        for change in by_kind.get("interaction.status_changed", []):
            assert change.interaction_id is not None
            moves.setdefault(change.interaction_id, []).append(change.data["status"])
        for item in stored:
            mine = moves.get(item.id, [])
            assert [ladder[s] for s in mine] == sorted({ladder[s] for s in mine})
            if mine:
                assert item.status == mine[-1]
        opened = [c.data["gap_id"] for c in by_kind.get("gap.opened", [])]
        closed = [c.data["gap_id"] for c in by_kind.get("gap.closed", [])]
        assert len(set(opened)) == len(opened) and len(set(closed)) == len(closed)
        assert set(closed) <= set(opened)
        assert {g.id for g in history.gaps()} == set(opened) - set(closed)


def test_a_watermark_moves_each_status_it_covers_in_the_feed() -> None:
    """Messenger's "read up to T": one status change per message behind the mark."""
    from omnicx import Address, MessageEvent, WatermarkEvent
    from test_watermarks import Replay

    channel = Replay()
    customer = (Address(kind="messenger", value="1254459154682919"),)
    for n in range(3):
        channel.events[f"m{n}".encode()] = [MessageEvent(
            channel="messenger", account=channel.account, external_id=f"m{n}",
            direction="outbound", contact=customer, occurred_at=T0 + dt.timedelta(minutes=n),
            status=omnicx.Status.SENT, thread_key="page", watermarked=True)]
    channel.events[b"mark"] = [WatermarkEvent(
        channel="messenger", account=channel.account, contact=customer,
        status=omnicx.Status.READ, up_to=T0 + dt.timedelta(minutes=1, seconds=30),
        occurred_at=T0 + dt.timedelta(minutes=5))]
    with omnicx.History(MemoryStore()) as history:
        stored = [history.receive(channel, body=f"m{n}".encode()).interactions[0]
                  for n in range(3)]
        cursor = history.changes().next_cursor
        history.receive(channel, body=b"mark")
        moved = history.changes(after=cursor).items
    assert sorted((c.kind, c.interaction_id, c.data["status"]) for c in moved) == [
        ("interaction.status_changed", stored[0].id, "read"),
        ("interaction.status_changed", stored[1].id, "read")]
    assert {c.contact_id for c in moved} == {stored[0].contact_id}


def test_record_change_notes_what_no_store_write_reports(history: omnicx.History) -> None:
    from omnicx._feed import record_change

    def work(tx: omnicx.storage.Transaction) -> None:
        record_change(tx, "conversation.state_changed", contact_id=None,
                      data={"conversation_id": 7, "action": "resolve"})

    history.store.atomic(work)
    (change,) = history.changes().items
    assert (change.kind, dict(change.data)) == (
        "conversation.state_changed", {"conversation_id": 7, "action": "resolve"})
    with pytest.raises(omnicx.ConfigurationError):
        history.store.atomic(lambda tx: record_change(tx, "no.such.kind"))
    bare = MemoryStore()
    bare.atomic(work)  # not a History's transaction: nothing to note, nothing raised
    with bare.reading() as tx:
        assert tx.last_change() == 0
