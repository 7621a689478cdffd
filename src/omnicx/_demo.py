"""``omnicx demo``: one customer's history across channels, through the real path.

Every step below is a raw provider payload, signed where the provider signs,
handed to `History.receive` exactly as a web handler would (the letter
goes the way `History.record` sends it). Nothing is inserted behind the
library's back, so the demo doubles as a smoke test of
the whole pipeline: identity linking across channels (web chat, WhatsApp,
email, SMS, a phone call and a letter), redelivery, a status that arrives
before its message, call statuses out of order, and the unified timeline.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

import attrs

from ._display import format_timeline
from ._history import History, Receipt
from ._models import Address, Contact, Interaction
from ._open import open as open_history
from ._record import payload as record_payload
from .channels import Email, Twilio, WebChat, WhatsApp
from .typing import ChannelAdapter

__all__ = ["DemoResult", "run_demo"]

CUSTOMER_PHONE = "+41 79 123 45 67"
CUSTOMER_EMAIL = "anna.keller@example.ch"
T0 = dt.datetime(2026, 11, 2, 9, 14, tzinfo=dt.UTC)


@attrs.frozen(kw_only=True)
class Step:
    note: str
    channel: ChannelAdapter
    body: bytes
    headers: dict[str, str]


@attrs.frozen(kw_only=True)
class DemoResult:
    contact: Contact
    timeline: tuple[Interaction, ...]
    receipts: tuple[Receipt, ...]


def _at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def _webchat_steps(chat: WebChat) -> Iterator[Step]:
    visitor = {"id": "v-7f3a", "name": "Anna Keller", "email": CUSTOMER_EMAIL}

    def step(note: str, *events: dict[str, object]) -> Step:
        body = json.dumps({"site": chat.site, "events": list(events)}).encode()
        return Step(note=note, channel=chat, body=body, headers=chat.sign(body))

    yield step(
        "web chat: Anna opens the chat on the shop's order page",
        {"type": "session.started", "id": "wc-s1", "session": "sess-1", "at": _at(0),
         "visitor": visitor, "page": "https://shop.example.ch/orders/48213"},
        {"type": "message", "id": "wc-m1", "session": "sess-1", "at": _at(0.5), "seq": 1,
         "from": "visitor", "visitor": visitor,
         "text": "Hi, my order 48213 was due yesterday. Where is it?"},
    )
    yield step(
        "web chat: the agent answers; the widget reports it read before it reports the message",
        {"type": "message.read", "id": "wc-r2", "message": "wc-m2", "at": _at(2.5),
         "visitor": visitor},
    )
    agent_reply = step(
        "web chat: the agent's reply itself",
        {"type": "message", "id": "wc-m2", "session": "sess-1", "at": _at(2), "seq": 2,
         "from": "agent", "agent": {"id": "a-12", "name": "Marco (support)"},
         "visitor": visitor, "reply_to": "wc-m1",
         "text": "Sorry Anna! It left our warehouse this morning and arrives tomorrow."},
    )
    yield agent_reply
    yield attrs.evolve(agent_reply, note="web chat: the widget redelivers the same message")
    yield step(
        "web chat: Anna leaves her phone number for an SMS update and closes the chat",
        {"type": "message", "id": "wc-m3", "session": "sess-1", "at": _at(4), "seq": 3,
         "from": "visitor", "visitor": {**visitor, "phone": CUSTOMER_PHONE},
         "text": "Great, thanks. Text me on my mobile if anything changes."},
        {"type": "session.ended", "id": "wc-s1-end", "session": "sess-1", "at": _at(5),
         "visitor": visitor, "reason": "visitor_left"},
    )


def _epoch(minutes: float) -> str:
    return str(int((T0 + dt.timedelta(minutes=minutes)).timestamp()))


def _whatsapp_steps(wa: WhatsApp) -> Iterator[Step]:
    wa_id = "41791234567"  # Meta's wa_id: the phone number Anna left in the web chat
    business = "41445550100"
    day2 = 24 * 60

    def step(note: str, field: str, value: dict[str, object]) -> Step:
        document = {"object": "whatsapp_business_account", "entry": [{
            "id": "102290129340398",
            "changes": [{"field": field, "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": business,
                             "phone_number_id": wa.phone_number_id},
                **value}}]}]}
        body = json.dumps(document).encode()
        return Step(note=note, channel=wa, body=body, headers=wa.sign(body))

    anna = [{"profile": {"name": "Anna K."}, "wa_id": wa_id}]
    yield step(
        "WhatsApp: next morning Anna writes from her phone, with a photo",
        "messages",
        {"contacts": anna, "messages": [
            {"from": wa_id, "id": "wamid.DEMO0001", "timestamp": _epoch(day2), "type": "text",
             "text": {"body": "The parcel arrived but the box is crushed. Photo follows."}},
            {"from": wa_id, "id": "wamid.DEMO0002", "timestamp": _epoch(day2 + 1),
             "type": "image", "image": {"mime_type": "image/jpeg", "id": "1003383421387256",
                                        "sha256": "ZCyTWr5ZD2eFq6grgAAbyfqtj1kDZHX6nZEN2tNN9zg=",
                                        "caption": "crushed box"}},
        ]},
    )
    yield step(
        "WhatsApp: support answers from the WhatsApp Business app (an echo)",
        "smb_message_echoes",
        {"message_echoes": [
            {"from": business, "to": wa_id, "id": "wamid.DEMO0003",
             "timestamp": _epoch(day2 + 9), "type": "text",
             "text": {"body": "So sorry! A replacement goes out today, no need to return it."}},
        ]},
    )
    yield step(
        "WhatsApp: 'read' arrives before 'delivered'; the status stays 'read'",
        "messages",
        {"statuses": [
            {"id": "wamid.DEMO0003", "status": "read", "timestamp": _epoch(day2 + 12),
             "recipient_id": wa_id},
            {"id": "wamid.DEMO0003", "status": "delivered", "timestamp": _epoch(day2 + 10),
             "recipient_id": wa_id},
        ]},
    )
    yield step(
        "WhatsApp: Anna reacts to the answer",
        "messages",
        {"contacts": anna, "messages": [
            {"from": wa_id, "id": "wamid.DEMO0004", "timestamp": _epoch(day2 + 13),
             "type": "reaction",
             "reaction": {"message_id": "wamid.DEMO0003", "emoji": "\U0001f64f"}},
        ]},
    )


def _email_steps(mail: Email) -> Iterator[Step]:
    confirmation = (
        "From: Shop Support <support@shop.example.ch>\r\n"
        "To: Anna Keller <Anna.Keller@example.ch>\r\n"
        "Subject: Your replacement for order 48213\r\n"
        "Date: Tue, 03 Nov 2026 15:02:00 +0100\r\n"
        "Message-ID: <r48213.1@shop.example.ch>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Dear Anna,\r\n\r\nyour replacement is on its way: tracking 99.00.123456.\r\n"
        "\r\nKind regards, Shop Support\r\n")
    reply = (
        "From: =?utf-8?q?Anna_K=C3=A9ller?= <anna.keller@example.ch>\r\n"
        "To: support@shop.example.ch\r\n"
        "Subject: AW: Your replacement for order 48213\r\n"
        "Date: Wed, 04 Nov 2026 18:40:00 +0100\r\n"
        "Message-ID: <CAK4nna-1@mail.example.ch>\r\n"
        "In-Reply-To: <r48213.1@shop.example.ch>\r\n"
        "References: <r48213.1@shop.example.ch>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Got it today, all perfect. Thank you!\r\n\r\n"
        "Am 03.11.2026 um 15:02 schrieb Shop Support <support@shop.example.ch>:\r\n"
        "> Dear Anna,\r\n> your replacement is on its way: tracking 99.00.123456.\r\n")
    yield Step(note="email: the shop system mails the replacement confirmation (a copy via"
               " the mailbox)", channel=mail, body=confirmation.encode(), headers={})
    yield Step(note="email: Anna replies in German mail client style; the quote is separated"
               " and the reply threads onto the confirmation", channel=mail,
               body=reply.encode(), headers={})


def _phone_and_post_steps(twilio: Twilio) -> Iterator[Step]:
    """Anna calls the hotline (Twilio), her letter arrives, she thanks the shop by SMS."""
    caller, hotline = "+41791234567", twilio.number or "+41445550100"
    call_sid = "CA0d3e5a1c2b4f6a8e9d0c1b2a3f4e5d6c"
    day4 = T0 + dt.timedelta(days=3, hours=0, minutes=46)  # Thu 5 Nov, 10:00

    def post(note: str, params: list[tuple[str, str]]) -> Step:
        body = urlencode([*params, ("AccountSid", twilio.account_sid),
                          ("ApiVersion", "2010-04-01")]).encode()
        return Step(note=note, channel=twilio, body=body, headers=twilio.sign(body))

    def call(status: str, minutes: float, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        at = email.utils.format_datetime(day4 + dt.timedelta(minutes=minutes))
        return [("CallSid", call_sid), ("CallStatus", status), ("Direction", "inbound"),
                ("From", caller), ("To", hotline), ("Caller", caller), ("Called", hotline),
                ("Timestamp", at), ("CallbackSource", "call-progress-events"), *extra]

    yield post("phone: Anna calls the hotline through Twilio; the call is ringing",
               call("ringing", 0, ("SequenceNumber", "0")))
    yield post("phone: 'completed' (4 minutes) overtakes 'in-progress'; one call, it ends"
               " 'completed'", call("completed", 4, ("SequenceNumber", "2"),
                                    ("CallDuration", "240")))
    yield post("phone: the late 'in-progress' is kept, the call stays 'completed'",
               call("in-progress", 0.2, ("SequenceNumber", "1")))
    yield post("phone: the recording and its transcription attach to the call", [
        ("CallSid", call_sid), ("TranscriptionSid", "TR0d3e5a1c2b4f6a8e9d0c1b2a3f4e5d6c"),
        ("TranscriptionText", "Hi, Anna Keller here, I paid shipping twice for order 48213."),
        ("TranscriptionStatus", "completed"), ("RecordingSid", "RE0d3e5a1c2b4f6a8e9d0c1b2a"),
        ("From", caller), ("To", hotline)])
    adapter, body, _ = record_payload(
        channel="letter", direction="inbound", contact=[Address(kind="phone", value=caller)],
        occurred_at=day4 + dt.timedelta(days=1, hours=-1), subject="Refund of double shipping",
        text="Dear shop, as discussed on the phone I enclose the bank slip.",
        external_id="post-2026-1106-017", data={"pages": 2})
    yield Step(note="letter: the mail room records Anna's letter with history.record()",
               channel=adapter, body=body, headers={})
    yield post("SMS: Anna texts a thank-you (Twilio gives no time: the receive time)", [
        ("MessageSid", "SM0d3e5a1c2b4f6a8e9d0c1b2a3f4e5d6c"),
        ("SmsSid", "SM0d3e5a1c2b4f6a8e9d0c1b2a3f4e5d6c"), ("SmsStatus", "received"),
        ("NumMedia", "0"), ("NumSegments", "1"), ("From", caller), ("To", hotline),
        ("Body", "Refund received, thank you!")])


def demo_steps() -> list[Step]:
    """The payloads of the demo, in the order a provider would deliver them."""
    chat = WebChat(secret="demo-webchat-secret", site="shop.example.ch")
    wa = WhatsApp(phone_number_id="106540352242922", app_secret="demo-whatsapp-secret")
    mail = Email(mailbox="support@shop.example.ch")
    twilio = Twilio(account_sid="AC5e2f0c9d8b7a6f5e4d3c2b1a0f9e8d7c", auth_token="demo-twilio",
                    number="+41445550100", webhook_url="https://crm.example.ch/hooks/twilio")
    return [*_webchat_steps(chat), *_whatsapp_steps(wa), *_email_steps(mail),
            *_phone_and_post_steps(twilio)]


def run_demo(
    path: str | Path = "omnicx-demo.db",
    *,
    out: TextIO | None = None,
    steps: Callable[[], list[Step]] = demo_steps,
) -> DemoResult:
    """Build the demo history in ``path`` (replacing it) and print the timeline to ``out``."""
    target = Path(path)
    if str(path) != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    history = open_history(path)
    try:
        return _run(history, steps(), out)
    finally:
        history.close()


def _run(history: History, steps: list[Step], out: TextIO | None) -> DemoResult:
    def say(line: str = "") -> None:
        if out is not None:
            print(line, file=out)

    receipts = []
    for step in steps:
        receipt = history.receive(step.channel, body=step.body, headers=step.headers)
        receipts.append(receipt)
        say(f"  {step.note}\n      -> stored {receipt.stored}, duplicates"
            f" {receipt.duplicates}, updates {receipt.updates}")
    contact = history.contacts.find(CUSTOMER_PHONE)
    if contact is None:  # the demo's own data links the phone; this is a broken build
        raise RuntimeError("demo customer not found by phone")
    page = history.timeline(contact, limit=100)
    say()
    say(f"Unified timeline of {contact.display_name} (contact #{contact.id}),"
        f" found by {CUSTOMER_PHONE}; addresses: "
        + ", ".join(str(a) for a in contact.addresses))
    say(format_timeline(page.items))
    gaps = history.gaps()
    say(f"\nopen gaps: {len(gaps)}")
    return DemoResult(contact=contact, timeline=page.items, receipts=tuple(receipts))
