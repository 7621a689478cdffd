"""Twilio's documented webhook bodies become the right events."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl

import pytest
import twilio_payloads as p
from hypothesis import given
from hypothesis import strategies as st

from omnicx import MessageEvent, PayloadError, UpdateEvent
from omnicx.channels import Twilio
from omnicx.channels.twilio._form import split_form

TWILIO = Twilio(account_sid=p.ACCOUNT_SID, auth_token=p.AUTH_TOKEN, number=p.BUSINESS,
                webhook_url=p.URL)


def parse(body: bytes, headers: dict[str, str] | None = None) -> list[object]:
    return list(TWILIO.parse(body, headers or {}))


def test_an_inbound_sms() -> None:
    (event,) = parse(p.sms())
    assert isinstance(event, MessageEvent)
    assert (event.channel, event.account, event.external_id) == ("sms", p.ACCOUNT_SID,
                                                                 p.MESSAGE_SID)
    assert event.direction == "inbound" and event.kind == "message"
    assert [str(a) for a in event.contact] == [f"phone:{p.CUSTOMER}"]
    assert event.text == "Hello, is my order on its way?"
    assert event.recipients[0].value == p.BUSINESS
    assert event.thread_key == TWILIO.thread_key  # replies sent with send() thread with it
    assert event.occurred_at is None  # Twilio gives no time: the receive time is used
    assert event.data["FromCity"] == "PROVIDENCE"


def test_an_mms_keeps_every_media_item_in_order() -> None:
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1", "image/jpeg"),
             ("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME2", "video/mp4")]
    (event,) = parse(p.sms(body="", media=media))
    assert isinstance(event, MessageEvent)
    assert [(a.ref, a.content_type) for a in event.attachments] == media
    assert event.text is None and event.message_type == "media"


@pytest.mark.parametrize("num_media", ["2", "11", "-1", "x"])
def test_media_counts_that_do_not_add_up_are_payload_errors(num_media: str) -> None:
    body = p.sms().replace(b"NumMedia=0", b"NumMedia=" + num_media.encode())
    with pytest.raises(PayloadError):
        parse(body)


def test_whatsapp_through_twilio_is_the_phone_number() -> None:
    (event,) = parse(p.whatsapp(sender="+41791234567"))
    assert isinstance(event, MessageEvent)
    assert event.channel == "whatsapp" and event.contact_name == "Jane"
    assert [str(a) for a in event.contact] == ["phone:+41791234567"]
    assert event.thread_key == f"twilio:whatsapp:{p.BUSINESS}"


def test_whatsapp_locations_buttons_and_replies() -> None:
    (event,) = parse(p.whatsapp(body="", extra=[
        ("Latitude", "47.3769"), ("Longitude", "8.5417"), ("Address", "Bahnhofstrasse 1"),
        ("Label", "Shop"), ("OriginalRepliedMessageSid", "SM" + "9" * 32),
        ("ButtonText", "Track parcel"), ("ButtonPayload", "track")]))
    assert isinstance(event, MessageEvent)
    assert event.data["location"]["latitude"] == "47.3769"
    assert event.data["button"] == {"ButtonText": "Track parcel", "ButtonPayload": "track"}
    assert event.text == "Shop, Bahnhofstrasse 1"
    assert event.reply_to == "SM" + "9" * 32


@pytest.mark.parametrize(("twilio", "status"), [
    ("queued", "pending"), ("sending", "pending"), ("sent", "sent"),
    ("delivered", "delivered"), ("undelivered", "failed"), ("failed", "failed"),
    ("read", "read")])
def test_message_statuses(twilio: str, status: str) -> None:
    (event,) = parse(p.message_status(twilio))
    assert isinstance(event, UpdateEvent)
    assert (event.target, event.kind, event.status) == (p.MESSAGE_SID, "status", status)
    assert event.event_id == f"status:{twilio}"
    assert event.data["twilio_status"] == twilio


@pytest.mark.parametrize(("raw", "expected"), [
    ("2401301904", dt.datetime(2024, 1, 30, 19, 4, tzinfo=dt.UTC)), ("2413301904", None),
    ("soon", None)])
def test_the_carriers_delivery_time_is_the_status_time(raw: str, expected: object) -> None:
    body = p.message_status("delivered") + b"&RawDlrDoneDate=" + raw.encode()
    (event,) = parse(body)
    assert isinstance(event, UpdateEvent) and event.occurred_at == expected
    assert event.data["RawDlrDoneDate"] == raw


def test_a_failed_status_names_its_documented_error() -> None:
    (event,) = parse(p.message_status("undelivered", error_code="30003"))
    assert isinstance(event, UpdateEvent)
    assert event.error == "30003 Unreachable destination handset"
    assert event.data["retryable"] is True
    (event,) = parse(p.message_status("failed", error_code="21610"))
    assert isinstance(event, UpdateEvent) and event.data["retryable"] is False


def test_a_call_status_callback_is_the_call_and_its_status() -> None:
    call, status = parse(p.call("completed", duration="95"))
    assert isinstance(call, MessageEvent) and isinstance(status, UpdateEvent)
    assert (call.channel, call.kind, call.external_id) == ("phone", "call", p.CALL_SID)
    assert call.direction == "inbound" and call.contact[0].value == p.CUSTOMER
    end = dt.datetime(2024, 1, 30, 19, 4, 5, tzinfo=dt.UTC)
    assert call.occurred_at == end - dt.timedelta(seconds=95)  # when it started
    assert (status.status, status.occurred_at) == ("completed", end)
    assert status.data["duration_seconds"] == 95


@pytest.mark.parametrize(("direction", "customer"), [
    ("outbound-api", "+41791234567"), ("outbound-dial", "+41791234567")])
def test_outbound_calls_are_to_the_customer(direction: str, customer: str) -> None:
    call, _ = parse(p.call("ringing", direction=direction, caller=p.BUSINESS, called=customer))
    assert isinstance(call, MessageEvent)
    assert call.direction == "outbound" and call.contact[0].value == customer
    assert call.data["twilio_direction"] == direction


@pytest.mark.parametrize(("caller", "address"), [
    ("sip:+41791234567@trunk.example.com", "phone:+41791234567"),
    ("sip:anna@pbx.example.com;transport=tls", "sip:anna@pbx.example.com;transport=tls"),
    ("client:anna", "username:anna"),
])
def test_sip_and_client_callers(caller: str, address: str) -> None:
    call, _ = parse(p.call("ringing", caller=caller))
    assert isinstance(call, MessageEvent) and str(call.contact[0]) == address


def test_the_incoming_call_request_has_no_timestamp() -> None:
    call, status = parse(p.call("ringing", timestamp=None))
    assert isinstance(call, MessageEvent) and call.occurred_at is None
    assert isinstance(status, UpdateEvent) and status.status == "ringing"


def test_recordings_and_transcriptions_update_the_call() -> None:
    (recording,) = parse(p.recording())
    assert isinstance(recording, UpdateEvent)
    assert (recording.target, recording.kind) == (p.CALL_SID, "recorded")
    assert recording.data["duration_seconds"] == 42
    assert recording.data["attachment"]["content_type"] == "audio/x-wav"
    assert recording.data["url"].endswith(p.RECORDING_SID)
    (transcription,) = parse(p.transcription())
    assert isinstance(transcription, UpdateEvent) and transcription.kind == "transcribed"
    assert transcription.data["text"] == "Hello, I am calling about my invoice."


def test_a_call_with_a_recording_carries_both() -> None:
    events = parse(p.call("completed", duration="30", extra=[
        ("RecordingUrl", "https://api.twilio.com/rec/RE1.mp3"), ("RecordingSid", "RE1"),
        ("RecordingDuration", "28")]))
    assert [type(e).__name__ for e in events] == ["MessageEvent", "UpdateEvent", "UpdateEvent"]
    assert events[2].kind == "recorded"  # type: ignore[union-attr]
    assert events[2].data["attachment"]["content_type"] == "audio/mpeg"  # type: ignore[union-attr]


def test_a_flat_json_body_reads_like_a_form() -> None:
    body = json.dumps({"MessageSid": p.MESSAGE_SID, "MessageStatus": "delivered",
                       "AccountSid": p.ACCOUNT_SID, "To": p.CUSTOMER, "From": p.BUSINESS,
                       "Extra": {"nested": True}}).encode()
    (event,) = parse(body, {"Content-Type": "application/json"})
    assert isinstance(event, UpdateEvent) and event.status == "delivered"


@pytest.mark.parametrize("body", [
    b"", b"Foo=bar", b"MessageSid=SM1&From=not-a-number&AccountSid=" + p.ACCOUNT_SID.encode(),
    p.sms().replace(p.ACCOUNT_SID.encode(), b"AC" + b"f" * 32),
    p.call("completed", timestamp="yesterday"),
    p.call("completed", duration="95").replace(b"CallDuration=95", b"CallDuration=soon"),
    b"Body=%FF&MessageSid=SM1", b"\xff\xfe", b"[1, 2]",
])
def test_malformed_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(body)


@given(st.lists(st.sampled_from(["a", "b", "=", "&", "+", "%", " ", "2", "B", "F", "é", ";",
                                  "%2B", "%2b", "%3A", "%25", "%2", "%C3%A9", "%C3", "%26",
                                  "%3D", "%20", "%40"]), max_size=30).map("".join))
def test_the_fast_form_splitter_agrees_with_parse_qsl(text: str) -> None:
    try:
        expected = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            split_form(text)
        return
    assert list(split_form(text)) == expected
