"""History end to end on SQLite: exactly once, durable, gaps, quarantine, queries."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest

import omnicx
from omnicx import Address, Channel, History, Outgoing, SendResult, Status
from omnicx.channels import WebChat
from webchat_payloads import CHANNEL, T0, VISITOR, at, message, signed, status


def receive(history: History, *events: dict[str, Any]) -> omnicx.Receipt:
    body, headers = signed(*events)
    return history.receive(CHANNEL, body=body, headers=headers)


def anna(history: History) -> omnicx.Contact:
    contact = history.contacts.find("anna@example.com")
    assert contact is not None
    return contact


def test_receive_stores_and_redelivery_is_a_counted_duplicate(history: History) -> None:
    first = receive(history, message("m1", 0), message("m2", 1))
    assert (first.stored, first.duplicates) == (2, 0)
    assert [i.external_id for i in first.interactions] == ["m1", "m2"]
    again = receive(history, message("m1", 0), message("m2", 1))
    assert (again.stored, again.duplicates) == (0, 2)
    overlapping = receive(history, message("m2", 1), message("m3", 2))
    assert (overlapping.stored, overlapping.duplicates) == (1, 1)
    assert history.report()["interactions"] == {"webchat/inbound/none": 3}


def test_duplicates_within_one_payload_are_stored_once(history: History) -> None:
    receipt = receive(history, message("m1", 0), message("m1", 0))
    assert (receipt.stored, receipt.duplicates) == (1, 1)


def test_out_of_order_arrival_is_ordered_by_provider_time(history: History) -> None:
    for n in (3, 1, 2, 0):
        receive(history, message(f"m{n}", n))
    page = history.timeline(anna(history))
    assert [i.external_id for i in page.items] == ["m3", "m2", "m1", "m0"]
    assert page.items[0].occurred_at == T0 + dt.timedelta(minutes=3)
    assert all(i.received_at >= i.occurred_at for i in page.items)


def test_status_before_its_message_is_a_gap_until_the_message_arrives(history: History
                                                                      ) -> None:
    early = receive(history, status("r1", "m1", 2))
    assert (early.stored, early.updates, early.gaps_opened) == (0, 1, 1)
    (gap,) = history.gaps()
    assert (gap.kind, gap.reference, gap.channel) == ("status_without_message", "m1", "webchat")
    late = receive(history, message("m1", 1, sender="agent"))
    assert late.gaps_closed == 1
    assert history.gaps() == []
    assert history.gaps(include_closed=True)[0].closed_at is not None
    (interaction,) = late.interactions
    assert history.interaction(interaction.id).status is Status.READ
    assert [s.status for s in history.statuses(interaction)] == [Status.READ]


def test_status_never_moves_backwards(history: History) -> None:
    (sent,) = receive(history, message("m1", 0, sender="agent")).interactions
    assert sent.status is Status.SENT
    receive(history, status("r", "m1", 3, "message.read"))
    late = receive(history, status("d", "m1", 2, "message.delivered"))
    assert late.updates == 1
    assert history.interaction(sent.id).status is Status.READ
    assert receive(history, status("d", "m1", 2, "message.delivered")).duplicates == 1
    assert [s.status for s in history.statuses(sent)] == [Status.DELIVERED, Status.READ]


def test_edits_are_events_beside_the_original(history: History) -> None:
    (original,) = receive(history, message("m1", 0, text="helo")).interactions
    receive(history, {"type": "message.edited", "id": "e1", "message": "m1", "at": at(1),
                      "text": "hello"})
    assert history.interaction(original.id).text == "helo"
    (edit,) = history.events(original)
    assert (edit.kind, edit.data["text"]) == ("edited", "hello")


def test_a_reply_to_an_unknown_parent_opens_a_gap(history: History) -> None:
    receive(history, message("m2", 1, reply_to="m1"))
    assert [(g.kind, g.reference) for g in history.gaps()] == [("missing_parent", "m1")]
    receive(history, message("m1", 0))
    assert history.gaps() == []


def test_forged_payloads_store_nothing(history: History) -> None:
    body, _ = signed(message("m1", 0))
    with pytest.raises(omnicx.SignatureError):
        history.receive(CHANNEL, body=body, headers={"X-Omnicx-Signature": "sha256=" + "0" * 64})
    with pytest.raises(omnicx.SignatureError):
        history.receive(CHANNEL, body=body)
    assert history.report()["raw_payloads"] == {}
    assert history.quarantine() == []


def test_malformed_payloads_are_quarantined_and_replayable(history: History) -> None:
    body = json.dumps({"site": "shop", "events": [
        {"type": "message", "id": "m1", "from": "visitor", "visitor": {"id": "v1"},
         "at": "20/11/2026 10:00"}]}).encode()
    with pytest.raises(omnicx.PayloadError) as info:
        history.receive(CHANNEL, body=body, headers=CHANNEL.sign(body))
    assert info.value.quarantine_id is not None
    assert info.value.channel == "webchat"
    (kept,) = history.quarantine()
    assert (kept.id, kept.body, kept.state) == (info.value.quarantine_id, body, "quarantined")
    assert "at" in (kept.error or "")

    with pytest.raises(omnicx.PayloadError):  # replay with the same adapter fails again
        history.replay(kept.id)
    assert len(history.quarantine()) == 1

    class Lenient(WebChat):
        """An adapter 'fixed' to read day-first dates."""

        def parse(self, body: bytes, headers: Any) -> Any:
            document = json.loads(body)
            for event in document["events"]:
                day = dt.datetime.strptime(event["at"], "%d/%m/%Y %H:%M")
                event["at"] = day.replace(tzinfo=dt.UTC).isoformat()
            return super().parse(json.dumps(document).encode(), headers)

    receipt = history.replay(kept.id, Lenient(secret="test-secret", site="shop"))
    assert receipt.stored == 1
    assert receipt.interactions[0].raw_id == kept.id
    assert history.quarantine() == []
    with pytest.raises(omnicx.NotFoundError):
        history.replay(kept.id)


def test_an_adapter_bug_never_leaks_its_exception(history: History) -> None:
    @attrs.frozen
    class Buggy:
        channel = Channel.WEBCHAT
        account = "shop"

        def verify(self, body: bytes, headers: Any) -> None:
            return None

        def parse(self, body: bytes, headers: Any) -> Any:
            return {}["missing"]

    with pytest.raises(omnicx.PayloadError) as info:
        history.receive(Buggy(), body=b"{}")
    assert "KeyError" in str(info.value)
    assert len(history.quarantine()) == 1


def test_batches_quarantine_bad_payloads_and_save_the_cursor(history: History) -> None:
    good = [signed(message(f"m{n}", n)) for n in range(5)]
    bad = (b"{broken", CHANNEL.sign(b"{broken"))
    receipt = history.receive_batch(CHANNEL, [*good[:2], bad, *good[2:]],
                                    cursor=("import:chat", "5"))
    assert (receipt.stored, receipt.quarantined) == (5, 1)
    assert history.cursor("import:chat") == "5"
    assert history.cursor("never-set") is None
    assert history.receive_many(CHANNEL, good, batch_size=2).duplicates == 5


def test_a_forged_payload_rejects_the_whole_batch(history: History) -> None:
    body, _ = signed(message("m9", 9))
    with pytest.raises(omnicx.SignatureError):
        history.receive_batch(CHANNEL, [signed(message("m1", 1)), (body, {})])
    assert history.report()["interactions"] == {}


def test_find_contacts_by_any_spelling(history: History) -> None:
    visitor = {**VISITOR, "phone": "+41 79 123 45 67"}
    receive(history, message("m1", 0, visitor=visitor))
    contact = anna(history)
    for query in ("+41791234567", "0041 79 123 45 67", "ANNA@example.com",
                  Address(kind="webchat", value="shop/v1")):
        assert history.contacts.find(query) == contact
    assert history.contacts.find("nobody@example.com") is None
    assert list(history.contacts) == [contact]
    with pytest.raises(omnicx.ConfigurationError):
        history.contacts.find("not an address")


def test_merge_unmerge_and_crm_links(history: History) -> None:
    receive(history, message("a1", 0))
    receive(history, message("b1", 1, visitor={"id": "v2", "email": "a.keller@work.example"}))
    a = anna(history)
    b = history.contacts.find("a.keller@work.example")
    assert a != b
    merged = history.contacts.merge(a, b)
    assert [i.external_id for i in history.timeline(merged).items] == ["b1", "a1"]
    assert history.contacts.find("a.keller@work.example") == merged
    assert [c.id for c in history.contacts] == [a.id]
    with pytest.raises(omnicx.ConfigurationError):
        history.contacts.merge(a, b)
    history.contacts.unmerge(a, b)
    assert [i.external_id for i in history.timeline(a).items] == ["a1"]
    assert [i.external_id for i in history.timeline(b).items] == ["b1"]
    linked = history.contacts.link(a, crm_id="0031x00000AbCdE")
    assert linked.crm_id == "0031x00000AbCdE"
    assert history.contacts.by_crm_id("0031x00000AbCdE") == linked
    with pytest.raises(omnicx.ConfigurationError):
        history.contacts.link(b, crm_id="0031x00000AbCdE")


def test_one_payload_linking_two_known_addresses_merges_their_contacts(history: History
                                                                       ) -> None:
    receive(history, message("a1", 0, visitor={"id": "v1", "email": "anna@example.com"}))
    receive(history, message("b1", 1, visitor={"id": "v2", "phone": "+41791234567"}))
    assert len(list(history.contacts)) == 2
    receive(history, message("c1", 2, visitor={"id": "v3", "email": "anna@example.com",
                                                 "phone": "+41791234567"}))
    (contact,) = list(history.contacts)
    assert history.contacts.find("+41791234567") == contact
    assert [i.external_id for i in history.timeline(contact).items] == ["c1", "b1", "a1"]


def test_another_customers_message_never_becomes_a_thread_parent(history: History) -> None:
    (mine,) = receive(history, message("m1", 0, session="S1")).interactions
    other = {"id": "v2", "email": "bert@example.com"}
    (theirs,) = receive(history, message("m2", 1, visitor=other, session="S1",
                                         reply_to="m1")).interactions
    assert theirs.conversation_id != mine.conversation_id
    assert theirs.contact_id != mine.contact_id


def test_timeline_filters(history: History) -> None:
    for n in range(6):
        receive(history, message(f"m{n}", n * 60))
    contact = anna(history)
    since = T0 + dt.timedelta(hours=2)
    until = T0 + dt.timedelta(hours=4)
    assert [i.external_id for i in history.timeline(contact, since=since, until=until).items
            ] == ["m3", "m2"]
    assert history.timeline(contact, channels={"email"}).items == ()
    assert len(history.timeline(contact, channels={"webchat"}).items) == 6
    with pytest.raises(omnicx.NotFoundError):
        history.timeline(contact, before="garbage!")
    with pytest.raises(omnicx.NotFoundError):
        history.timeline(999)


def test_pagination_never_repeats_or_skips_while_items_arrive(history: History) -> None:
    for n in range(0, 100, 2):
        receive(history, message(f"m{n:03}", n))
    contact = anna(history)
    seen: list[str] = []
    cursor = None
    newcomer = 1000
    while True:
        page = history.timeline(contact, limit=7, before=cursor)
        seen += [i.external_id for i in page.items]
        # Meanwhile: newer messages, and late arrivals older than every page so far.
        receive(history, message(f"new{newcomer}", newcomer))
        receive(history, message(f"m{newcomer - 999:03}", -newcomer))
        newcomer += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    original = [f"m{n:03}" for n in range(98, -1, -2)]
    assert [x for x in seen if x in original] == original
    assert len(seen) == len(set(seen))


def test_concurrent_threads_receiving_the_same_payloads(tmp_path: Path) -> None:
    history = omnicx.open(tmp_path / "h.db")
    payloads = [signed(message(f"m{n}", n)) for n in range(40)]
    receipts: list[omnicx.Receipt] = []

    def worker() -> None:
        for body, headers in payloads:
            receipts.append(history.receive(CHANNEL, body=body, headers=headers))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.stored for r in receipts) == 40
    assert sum(r.duplicates for r in receipts) == 120
    history.close()


# -- outbound through a test double sender ----------------------------------------------------

@attrs.define
class RecordingSender:
    """A `Sender` that answers like a provider and can deliver a webhook mid-call."""

    history: History | None = None
    fail: omnicx.SendError | None = None
    early_status: bool = False
    sent: list[Outgoing] = attrs.Factory(list)
    channel: Channel = Channel.WEBCHAT
    account: str = "shop"
    address_kinds: tuple[str, ...] = ("email",)

    def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message)
        if self.fail is not None:
            raise self.fail
        provider_id = f"prov-{len(self.sent)}"
        if self.early_status and self.history is not None:
            # The provider's "delivered" webhook beats the HTTP response.
            receive(self.history, status(f"d-{provider_id}", provider_id, 0,
                                         "message.delivered"))
        return SendResult(external_id=provider_id)


def test_send_records_first_then_attaches_the_provider_id(history: History) -> None:
    receive(history, message("m1", 0))
    sender = RecordingSender(history=history, early_status=True)
    sent = history.send(sender, to=anna(history), text="Your parcel left our warehouse.")
    (outgoing,) = sender.sent
    assert outgoing.client_id.startswith("omnicx:")
    assert outgoing.to == Address(kind="email", value="anna@example.com")
    assert outgoing.last_inbound_at == T0
    assert sent.external_id == "prov-1"
    assert sent.status is Status.DELIVERED  # the early webhook was applied
    assert history.gaps() == []
    assert history.timeline(anna(history)).items[0].id == sent.id


def test_a_failed_send_is_recorded_as_failed(history: History) -> None:
    receive(history, message("m1", 0))
    sender = RecordingSender(fail=omnicx.SendError("number blocked", code=131026))
    with pytest.raises(omnicx.SendError):
        history.send(sender, to="anna@example.com", text="hi")
    latest = history.timeline(anna(history)).items[0]
    assert latest.direction == "outbound" and latest.status is Status.FAILED
    assert history.statuses(latest)[0].error == "131026 number blocked"


def test_storage_failures_are_omnicx_errors(tmp_path: Path) -> None:
    with pytest.raises(omnicx.StorageError):
        omnicx.open(tmp_path)  # a directory, not a database file
    with pytest.raises(omnicx.ConfigurationError):
        omnicx.open(tmp_path / "x.db", schema="crm")


def test_the_timeline_query_is_an_index_range_scan(tmp_path: Path) -> None:
    import sqlite3

    from omnicx.storage._sql import _INTERACTION_COLUMNS

    omnicx.open(tmp_path / "plan.db").close()
    conn = sqlite3.connect(tmp_path / "plan.db")
    plan = " ".join(row[-1] for row in conn.execute(
        f"EXPLAIN QUERY PLAN SELECT {_INTERACTION_COLUMNS} FROM interactions"
        " WHERE contact_id = ? AND (occurred_at < ? OR (occurred_at = ? AND id < ?))"
        " ORDER BY occurred_at DESC, id DESC LIMIT 50", (1, 2, 2, 3)))
    assert "USING INDEX interactions_timeline" in plan
    assert "TEMP B-TREE" not in plan  # no sort: rows come off the index in order


def test_send_options_keep_bytes_out_of_the_history(history: History) -> None:
    receive(history, message("m1", 0))
    sent = history.send(RecordingSender(), to=anna(history), text="photo",
                        media={"data": b"\x89PNG" * 100, "mime_type": "image/png"})
    assert sent.data["options"]["media"] == {"data": "<400 bytes>", "mime_type": "image/png"}
