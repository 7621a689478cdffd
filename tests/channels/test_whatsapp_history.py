"""WhatsApp end to end through omnicx.open(":memory:"): receive, gaps, statuses, send."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import whatsapp_payloads as p

import omnicx
from omnicx import (
    Address,
    Direction,
    History,
    Kind,
    PayloadError,
    SignatureError,
    Status,
    WindowClosedError,
)
from omnicx.channels import WhatsApp

SECRET = "app-secret"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
PHONE = "+16505551234"


class Graph:
    """A fake Graph API: records requests, answers with a fresh wamid each time."""

    def __init__(self, history: History | None = None) -> None:
        self.history = history
        self.requests: list[dict[str, Any]] = []
        self.seen_during_call: list[omnicx.Interaction] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if self.history is not None:
            contact = self.history.contacts.find(PHONE)
            if contact is not None:
                self.seen_during_call.extend(self.history.timeline(contact).items)
        wamid = WAMID if len(self.requests) == 1 else f"{WAMID}-{len(self.requests)}"
        return httpx.Response(200, json={"messaging_product": "whatsapp",
                                         "contacts": [{"input": "16505551234",
                                                       "wa_id": "16505551234"}],
                                         "messages": [{"id": wamid}]})


@pytest.fixture
def history() -> Iterator[History]:
    with omnicx.open(":memory:") as history:
        yield history


@pytest.fixture
def graph(history: History) -> Graph:
    return Graph(history)


@pytest.fixture
def wa(graph: Graph) -> WhatsApp:
    return WhatsApp(app_secret=SECRET, verify_token="tok", access_token="EAAG",
                    phone_number_id=p.PHONE_NUMBER_ID, transport=httpx.MockTransport(graph),
                    sleep=lambda _s: None)


def deliver(history: History, wa: WhatsApp, document: dict[str, Any]) -> omnicx.Receipt:
    body = p.dumps(document)
    return history.receive(wa, body=body, headers=wa.sign(body))


def recent() -> str:
    return str(int(dt.datetime.now(dt.UTC).timestamp()) - 60)


def test_inbound_is_stored_once_and_redelivery_is_a_duplicate(
    history: History, wa: WhatsApp
) -> None:
    document = p.inbound(p.message("text", 1), p.message("image", 2))
    first = deliver(history, wa, document)
    assert (first.stored, first.duplicates) == (2, 0)
    again = deliver(history, wa, document)
    assert (again.stored, again.duplicates) == (0, 2)
    contact = history.contacts.find(PHONE)
    assert contact is not None and contact.display_name == p.NAME
    items = history.timeline(contact).items
    assert {i.external_id for i in items} == {p.wamid(1), p.wamid(2)}
    image = next(i for i in items if i.message_type == "image")
    assert image.attachments[0].ref == "1003383421387256"
    assert len({i.conversation_id for i in items}) == 1


def test_forged_signature_stores_nothing(history: History, wa: WhatsApp) -> None:
    body = p.dumps(p.inbound(p.message("text")))
    with pytest.raises(SignatureError):
        history.receive(wa, body=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert history.contacts.find(PHONE) is None
    assert history.quarantine() == []


def test_malformed_payload_is_quarantined(history: History, wa: WhatsApp) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": "nope"}'
    with pytest.raises(PayloadError) as info:
        history.receive(wa, body=body, headers=wa.sign(body))
    assert info.value.quarantine_id is not None
    assert [q.id for q in history.quarantine()] == [info.value.quarantine_id]


def test_edits_reactions_and_revokes_are_events_never_overwrites(
    history: History, wa: WhatsApp
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1)))
    updates = [p.message("edit", 2), p.message("reaction", 3), p.message("revoke", 4)]
    updates[1]["reaction"]["message_id"] = p.wamid(1)
    receipt = deliver(history, wa, p.inbound(*updates))
    assert receipt.updates == 3 and receipt.stored == 0
    contact = history.contacts.find(PHONE)
    assert contact is not None
    (original,) = history.timeline(contact).items
    assert original.text == "Does it come in another color?"
    events = history.events(original)
    assert [e.kind for e in events] == ["edited", "reacted", "revoked"]
    assert events[0].data["text"] == "Does it come in another colour?"
    assert deliver(history, wa, p.inbound(*updates)).duplicates == 3


def test_status_before_its_message_is_a_gap_then_applied(history: History, wa: WhatsApp) -> None:
    echo = p.echo(1)
    early = deliver(history, wa, p.statuses(p.status("delivered", echo["id"])))
    assert early.updates == 1 and early.gaps_opened == 1
    (gap,) = history.gaps()
    assert gap.kind == "status_without_message" and gap.reference == echo["id"]
    arrived = deliver(history, wa, p.echoes(echo))
    assert arrived.stored == 1 and arrived.gaps_closed == 1
    assert history.gaps() == []
    (interaction,) = arrived.interactions
    stored = history.interaction(interaction.id)
    assert stored.direction is Direction.OUTBOUND
    assert stored.status is Status.DELIVERED
    assert [s.status for s in history.statuses(stored)] == ["delivered"]


def test_out_of_order_statuses_never_go_backwards(history: History, wa: WhatsApp) -> None:
    deliver(history, wa, p.echoes(p.echo(1)))
    target = "wamid.ECHO000001"
    for name in ["read", "delivered", "sent"]:
        deliver(history, wa, p.statuses(p.status(name, target)))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    (interaction,) = history.timeline(contact).items
    assert interaction.status is Status.READ
    assert sorted(s.status for s in history.statuses(interaction)) == [
        "delivered", "read", "sent"]
    again = deliver(history, wa, p.statuses(p.status("read", target)))
    assert again.duplicates == 1


def test_failed_status_records_the_error(history: History, wa: WhatsApp) -> None:
    deliver(history, wa, p.echoes(p.echo(1)))
    deliver(history, wa, p.statuses(p.status("failed", "wamid.ECHO000001")))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    (interaction,) = history.timeline(contact).items
    (failed,) = history.statuses(interaction)
    assert failed.error == "131026 Message undeliverable"
    assert interaction.status is Status.FAILED


def test_phone_and_bsuid_are_one_contact_whatever_arrives(
    history: History, wa: WhatsApp
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1)))
    deliver(history, wa, p.inbound(p.message("text", 2, user_id=p.BSUID),
                                   contacts=[p.contact(user_id=p.BSUID)]))
    deliver(history, wa, p.inbound(p.message("text", 3, sender=None, user_id=p.BSUID),
                                   contacts=[p.contact(wa_id=None, user_id=p.BSUID)]))
    by_phone = history.contacts.find(PHONE)
    by_bsuid = history.contacts.find(Address(kind="whatsapp", value=p.BSUID))
    assert by_phone is not None and by_bsuid is not None
    assert (by_bsuid.merged_into or by_bsuid.id) == (by_phone.merged_into or by_phone.id)
    assert len(history.timeline(by_phone).items) == 3
    assert len(list(history.contacts)) == 1


def test_bsuid_first_then_phone_links_too(history: History, wa: WhatsApp) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, sender=None, user_id=p.BSUID),
                                   contacts=[p.contact(wa_id=None, user_id=p.BSUID)]))
    deliver(history, wa, p.inbound(p.message("text", 2)))
    deliver(history, wa, p.inbound(p.message("text", 3, user_id=p.BSUID),
                                   contacts=[p.contact(user_id=p.BSUID)]))
    assert len(list(history.contacts)) == 1


def test_unknown_type_is_stored_as_unsupported(history: History, wa: WhatsApp) -> None:
    (interaction,) = deliver(history, wa, p.inbound(p.message("future_type"))).interactions
    assert interaction.kind is Kind.UNSUPPORTED
    assert interaction.data["raw"]["hologram"]["depth"] == 3


def test_send_records_first_then_gets_the_wamid(
    history: History, wa: WhatsApp, graph: Graph
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts=recent())))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    sent = history.send(wa, to=contact, text="Your parcel left our warehouse.")
    # While the provider was being called, the interaction was already stored, pending.
    pending = [i for i in graph.seen_during_call if i.direction is Direction.OUTBOUND]
    assert len(pending) == 1 and pending[0].status is Status.PENDING
    assert pending[0].external_id.startswith("omnicx:")
    assert sent.external_id == WAMID
    assert sent.status is Status.SENT
    assert graph.requests[0]["to"] == "16505551234"
    assert graph.requests[0]["text"]["body"] == "Your parcel left our warehouse."
    # Status webhooks now attach to it.
    receipt = deliver(history, wa, p.statuses(p.status("delivered", WAMID)))
    assert receipt.gaps_opened == 0
    assert history.interaction(sent.id).status is Status.DELIVERED
    # The reply lands in the customer's WhatsApp conversation.
    (inbound,) = [i for i in history.timeline(contact).items if i.direction == "inbound"]
    assert sent.conversation_id == inbound.conversation_id


def test_send_to_a_plain_number(history: History, wa: WhatsApp, graph: Graph) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts=recent())))
    sent = history.send(wa, to="+1 650 555 1234", text="Hi")
    assert sent.external_id == WAMID
    assert graph.requests[0]["to"] == "16505551234"


def test_send_to_a_bsuid_only_contact_uses_recipient(
    history: History, wa: WhatsApp, graph: Graph
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, sender=None, user_id=p.BSUID,
                                             ts=recent()),
                                   contacts=[p.contact(wa_id=None, user_id=p.BSUID)]))
    contact = history.contacts.find(Address(kind="whatsapp", value=p.BSUID))
    assert contact is not None
    history.send(wa, to=contact, text="Hello")
    assert graph.requests[0]["recipient"] == p.BSUID
    assert "to" not in graph.requests[0]


def test_status_that_beats_the_send_response_is_applied(
    history: History, wa: WhatsApp, graph: Graph
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts=recent())))
    # Meta's webhook for the new wamid arrives before send() has stored the id.
    deliver(history, wa, p.statuses(p.status("read", WAMID)))
    assert [g.reference for g in history.gaps()] == [WAMID]
    sent = history.send(wa, to=PHONE, text="Hi")
    assert history.interaction(sent.id).status is Status.READ
    assert history.gaps() == []


def test_window_refusal_marks_the_message_failed_without_calling(
    history: History, wa: WhatsApp, graph: Graph
) -> None:
    old = str(int(dt.datetime.now(dt.UTC).timestamp()) - 3 * 86_400)
    deliver(history, wa, p.inbound(p.message("text", 1, ts=old)))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    with pytest.raises(WindowClosedError, match="template"):
        history.send(wa, to=contact, text="Are you still there?")
    assert graph.requests == []
    outbound = [i for i in history.timeline(contact).items if i.direction == "outbound"]
    assert [i.status for i in outbound] == [Status.FAILED]


def test_template_outside_the_window_is_sent(
    history: History, wa: WhatsApp, graph: Graph
) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts="1600000000")))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    sent = history.send(wa, to=contact, template="order_shipped", language="en_US",
                        components=[{"type": "body",
                                     "parameters": [{"type": "text", "text": "A-1"}]}])
    assert sent.external_id == WAMID
    assert graph.requests[0]["template"]["name"] == "order_shipped"


def test_every_type_batch_end_to_end(history: History, wa: WhatsApp) -> None:
    receipt = deliver(history, wa, p.every_type())
    assert receipt.stored == len(p.MESSAGES) - 4
    assert receipt.updates == 4 + 5
    again = deliver(history, wa, p.every_type())
    assert again.stored == 0 and again.duplicates == receipt.stored + receipt.updates


def test_window_for_a_contact_and_business_number(history: History, wa: WhatsApp) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts=recent())))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    closes = wa.window_for(history, contact)
    assert closes is not None
    assert closes - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23)
    other_number = WhatsApp(phone_number_id="999999999", app_secret=SECRET)
    assert other_number.window_for(history, contact) is None


def test_window_for_ignores_old_and_outbound_messages(history: History, wa: WhatsApp) -> None:
    deliver(history, wa, p.inbound(p.message("text", 1, ts="1600000000")))
    deliver(history, wa, p.echoes(p.echo(1)))
    contact = history.contacts.find(PHONE)
    assert contact is not None
    assert wa.window_for(history, contact) is None


def test_the_builtin_webhook_app_serves_whatsapp(history: History, wa: WhatsApp) -> None:
    import asyncio

    app = omnicx.webhook_app(history, [wa])
    path = f"/whatsapp/{p.PHONE_NUMBER_ID}"
    body = p.dumps(p.inbound(p.message("text", 1)))

    async def meta() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:
            challenge = await client.get(path, params={
                "hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "77"})
            posted = await client.post(path, content=body, headers=wa.sign(body))
            forged = await client.post(path, content=body,
                                       headers={"X-Hub-Signature-256": "sha256=00"})
        return challenge, posted, forged

    challenge, posted, forged = asyncio.run(meta())
    assert (challenge.status_code, challenge.text) == (200, "77")
    assert posted.json()["stored"] == 1
    assert forged.status_code == 401


def test_download_the_attachments_of_a_received_image(history: History) -> None:
    import base64
    import hashlib

    from omnicx._blobs import MemoryBlobStore

    photo = b"\xff\xd8\xff\xe0 the customer's photo"
    message = p.message("image", 1)
    message["image"]["sha256"] = base64.b64encode(hashlib.sha256(photo).digest()).decode()

    def graph(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.facebook.com":
            assert request.url.path.endswith("/1003383421387256")
            return httpx.Response(200, json={"url": "https://lookaside.fbsbx.com/m?mid=1",
                                             "mime_type": "image/jpeg",
                                             "file_size": len(photo)})
        return httpx.Response(200, content=photo)

    store = MemoryBlobStore()
    wa = WhatsApp(app_secret=SECRET, access_token="EAAG", phone_number_id=p.PHONE_NUMBER_ID,
                  transport=httpx.MockTransport(graph), blobs=store)
    (interaction,) = deliver(history, wa, p.inbound(message)).interactions
    (attachment,) = wa.download_attachments(interaction)
    assert attachment.sha256 == hashlib.sha256(photo).hexdigest()
    assert attachment.size == len(photo)
    assert attachment.content_type == "image/jpeg"
    assert store.get(attachment.ref or "") == photo


def test_a_message_meta_could_not_render_is_stored_not_quarantined(
    history: History, wa: WhatsApp
) -> None:
    errors = [{"code": 131060, "title": "This message is currently unavailable.",
               "message": "This message is currently unavailable.",
               "error_data": {"details": "This message is currently unavailable."}}]
    msg = {"from": p.WA_ID, "id": p.wamid(61), "timestamp": p.TS, "type": "image",
           "errors": errors}
    receipt = deliver(history, wa, p.inbound(msg, p.message("text", 62)))
    assert (receipt.stored, receipt.duplicates) == (2, 0)
    assert history.quarantine() == []
    unsupported = next(i for i in receipt.interactions if i.external_id == p.wamid(61))
    assert str(unsupported.kind) == "unsupported"
    assert unsupported.message_type == "image"
    assert unsupported.data["errors"] == errors
