"""A default region for national phone numbers: ``omnicx.open(..., default_region="CH")``.

Customers type ``079 123 45 67``, CTI systems log ``0441234567``: with a
region set, those are the same people as ``+41 79 123 45 67`` wherever an
address comes in (find, send, an adapter's parse), and international numbers
mean what they meant without it. WhatsApp's ``wa_id`` (international digits
without ``+``) must not be read as a national number of the region.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import omnicx
from channels import telegram_payloads as telegram  # tests/channels: documented bodies
from channels import twilio_payloads as payloads
from omnicx import Address, MessageEvent, Outgoing, SendResult
from omnicx._cli import main
from omnicx._identity import guess_kind, normalise_phone, regional
from omnicx.channels import Authenticated, Telegram, Twilio, WebChat, WebForm, WhatsApp

REGIONS = ["CH", "DE", "AT", "FR", "IT", "GB", "NL", "ES", "US", "BR", "IN", "JP", "AU"]
TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    """A valid number of a region: its example number with the last digits redrawn."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    assume(example is not None)
    national = str(example.national_number)
    tail = draw(st.text("0123456789", min_size=3, max_size=3))
    number = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    return region, number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@given(valid_numbers(), st.sampled_from(["", " ", "-", "."]))
def test_a_national_number_is_read_in_its_region(
        drawn: tuple[str, phonenumbers.PhoneNumber], separator: str) -> None:
    region, number = drawn
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    typed = national.replace(" ", separator) if separator else national
    assert normalise_phone(typed, region) == _e164(number)
    assert guess_kind(typed) == "phone"  # what a search box or `send --to` relies on
    with regional(region):  # the same through the region a History sets
        assert Address(kind="phone", value=typed).value == _e164(number)


@given(valid_numbers(), st.sampled_from(REGIONS),
       st.sampled_from(["international", "e164", "00"]))
def test_an_international_number_means_the_same_in_every_region(
        drawn: tuple[str, phonenumbers.PhoneNumber], region: str, style: str) -> None:
    _, number = drawn
    text = {"international": phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            "e164": _e164(number),
            "00": "00" + _e164(number)[1:]}[style]
    assert normalise_phone(text, region) == normalise_phone(text) == _e164(number)


def _whatsapp_contact(wa_id: str, region: str) -> tuple[Address, ...]:
    """The contact of a text message from ``wa_id``, parsed under ``region``."""
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881",
                         "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5",
                          "timestamp": "1744344496", "type": "text",
                          "text": {"body": "Hello"}}]}}]}]}).encode()
    with regional(region):
        (event,) = WhatsApp(phone_number_id="106540352242922").parse(body, {})
    assert isinstance(event, MessageEvent)
    return event.contact


@given(valid_numbers(), st.sampled_from(REGIONS))
def test_whatsapp_wa_ids_ignore_the_region(drawn: tuple[str, phonenumbers.PhoneNumber],
                                           region: str) -> None:
    _, number = drawn
    assert Address(kind="phone", value=_e164(number)) in _whatsapp_contact(
        _e164(number)[1:], region)


def test_a_wa_id_that_is_also_a_german_national_number() -> None:
    # 41791234567 is a valid German number too (+49 4179 1234567): typed by a
    # person in Germany it is one, but Meta's wa_id is documented international.
    assert normalise_phone("41791234567", "DE") == "+4941791234567"
    assert Address(kind="phone", value="+41791234567") in _whatsapp_contact("41791234567", "DE")


class CallLog:
    channel = "phone"
    account = "cti"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        return None

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[MessageEvent]:
        call = json.loads(body)
        return [MessageEvent(channel="phone", account="cti", external_id=call["id"],
                             direction="inbound", kind="call", text="called",
                             contact=(Address(kind="phone", value=call["from"]),))]

    def send(self, message: Outgoing) -> SendResult:
        self.sent.append(message)
        return SendResult(external_id=f"sms-{len(self.sent)}")


def test_a_history_reads_national_numbers_everywhere() -> None:
    history = omnicx.open(":memory:", default_region="ch")
    assert history.default_region == "CH"
    calls = CallLog()
    history.receive(calls, body=b'{"id": "c1", "from": "079 123 45 67"}')
    chat = WebChat(secret="s", site="shop")  # no region of its own: the history's applies
    body = json.dumps({"site": "shop", "events": [
        {"type": "message", "id": "m1", "session": "s1", "at": "2026-11-02T09:14:00Z",
         "from": "visitor", "text": "hi", "visitor": {"id": "v1", "phone": "0791234567"}},
    ]}).encode()
    history.receive(chat, body=body, headers=chat.sign(body))
    anna = history.contacts.find("079 123 45 67")
    assert anna is not None and anna == history.contacts.find("+41 79 123 45 67")
    assert {i.channel for i in history.timeline(anna).items} == {"phone", "webchat"}
    history.send(calls, to="079 123 45 67", text="called back")
    assert calls.sent[0].to.value == "+41791234567"
    form = WebForm(form="contact", unsigned=True)  # no region of its own either
    history.receive(form, body=b"name=Anna&phone=079+123+45+67&message=Call+me",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert len(history.timeline(anna).items) == 4


def test_without_a_region_national_numbers_are_refused() -> None:
    history = omnicx.open(":memory:")
    with pytest.raises(omnicx.PayloadError):
        history.receive(CallLog(), body=b'{"id": "c1", "from": "079 123 45 67"}')
    with pytest.raises(omnicx.ConfigurationError):
        history.contacts.find("079 123 45 67")


@pytest.mark.parametrize("bad", ["", "XX", "Switzerland", "41"])
def test_a_region_that_does_not_exist_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(omnicx.ConfigurationError, match="region"):
        omnicx.open(":memory:", default_region=bad)
    # Said when the channel is set up, not as a quarantined payload per visitor.
    with pytest.raises(omnicx.ConfigurationError, match="region"):
        WebChat(secret="s", default_region=bad)
    with pytest.raises(omnicx.ConfigurationError, match="region"):
        WebForm(form="contact", secret="s", default_region=bad)


def test_record_and_the_cli_read_national_numbers(tmp_path: Path) -> None:
    history = omnicx.open(tmp_path / "h.db", default_region="CH")
    call = history.record(channel="phone", direction="inbound", contact="079 123 45 67",
                          text="asked about the invoice", external_id="cti-4711")
    assert history.contacts.find("+41791234567") == history.contacts.get(call.contact_id)
    history.close()
    out = io.StringIO()
    assert main(["--db", str(tmp_path / "h.db"), "--region", "CH", "record",
                 "--channel", "letter", "--direction", "outbound",
                 "--contact", "079 123 45 67", "--text", "the invoice, again"], out=out) == 0
    with omnicx.open(tmp_path / "h.db", default_region="CH") as history:
        anna = history.contacts.find("079 123 45 67")
        assert anna is not None
        assert {i.channel for i in history.timeline(anna).items} == {"phone", "letter"}


def test_twilio_wa_ids_ignore_the_region() -> None:
    twilio = Twilio(account_sid=payloads.ACCOUNT_SID, auth_token=payloads.AUTH_TOKEN,
                    number=payloads.BUSINESS, webhook_url=payloads.URL)
    with regional("DE"):  # 41791234567 is a German national number too
        (event,) = twilio.parse(payloads.whatsapp(sender="+41791234567"), {})
    assert isinstance(event, MessageEvent)
    phones = {a.value for a in event.contact if a.kind == "phone"}
    assert phones == {"+41791234567"}


def test_a_telegram_users_own_number_ignores_the_region() -> None:
    bot = Telegram(bot_token=telegram.BOT_TOKEN, secret_token=telegram.SECRET)
    with regional("DE"):  # Telegram sends "41791234567": a German national number too
        (event,) = bot.parse(telegram.body(telegram.of("contact")), {})
    assert isinstance(event, MessageEvent)
    assert [str(a) for a in event.contact] == ["telegram:1111111", "phone:+41791234567"]


def test_the_webhook_server_reads_national_numbers_in_the_historys_region() -> None:
    history = omnicx.open(":memory:", default_region="CH")
    calls = Authenticated(adapter=CallLog(), bearer_token="cti-token")
    app = omnicx.webhook_app(history, [calls])  # parses outside History.receive
    body = b'{"id": "c1", "from": "079 123 45 67"}'

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/phone/cti", content=body, headers=calls.sign(body))

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    assert history.contacts.find("+41 79 123 45 67") is not None
