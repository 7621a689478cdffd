"""Sending SMS through Twilio's Messages API (httpx MockTransport, Twilio's documented bodies)."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import twilio_payloads as p

import omnicx
from omnicx import SendError
from omnicx.channels import Twilio
from omnicx.channels.twilio import TWILIO_ERRORS

API = f"https://api.twilio.com/2010-04-01/Accounts/{p.ACCOUNT_SID}/Messages.json"


def twilio(handler: object, **options: object) -> tuple[Twilio, list[float]]:
    sleeps: list[float] = []
    adapter = Twilio(account_sid=p.ACCOUNT_SID, auth_token=p.AUTH_TOKEN, number=p.BUSINESS,
                     webhook_url=p.URL, transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
                     sleep=sleeps.append, **options)  # type: ignore[arg-type]
    return adapter, sleeps


def test_send_posts_the_form_and_records_the_message_sid(history: omnicx.History) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=p.message_resource(body="Your parcel left."))

    adapter, _ = twilio(handler, status_callback="https://crm.example.ch/hooks/twilio/status")
    sent = history.send(adapter, to=p.CUSTOMER, text="Your parcel left.")
    (request,) = seen
    assert str(request.url) == API and request.method == "POST"
    assert request.headers["Authorization"].startswith("Basic ")
    form = parse_qs(request.content.decode())
    assert form == {"To": [p.CUSTOMER], "From": [p.BUSINESS], "Body": ["Your parcel left."],
                    "StatusCallback": ["https://crm.example.ch/hooks/twilio/status"]}
    assert sent.external_id == p.MESSAGE_SID
    assert sent.status == "pending"  # Twilio queued it; the status callbacks move it on

    adapter = adapter.for_url(p.URL)
    for status in ("sent", "delivered", "sending"):
        body = p.message_status(status)
        history.receive(adapter, body=body, headers=adapter.sign(body))
    assert history.interaction(sent.id).status == "delivered"  # never backwards
    assert [s.data.get("twilio_status") for s in history.statuses(sent)][1:] == [
        "sent", "delivered", "sending"]


def test_mms_and_whatsapp_fields() -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.content.decode()))
        return httpx.Response(201, json=p.message_resource(status="accepted"))

    adapter, _ = twilio(handler, messaging_service_sid="MG" + "1" * 32)
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    outgoing = omnicx.Outgoing(client_id="c1", contact_id=1, to=to, text="Photo",
                               options={"media_urls": ["https://a.example/1.jpg",
                                                       "https://a.example/2.jpg"]})
    result = adapter.send(outgoing)
    assert result.message_type == "mms" and result.status == "pending"
    assert seen[0]["MediaUrl"] == ["https://a.example/1.jpg", "https://a.example/2.jpg"]
    assert seen[0]["MessagingServiceSid"] == ["MG" + "1" * 32] and "From" not in seen[0]
    adapter, _ = twilio(handler)
    result = adapter.whatsapp().send(omnicx.Outgoing(client_id="c2", contact_id=1, to=to,
                                                     text="Hi"))
    assert seen[1]["To"] == [f"whatsapp:{p.CUSTOMER}"]
    assert seen[1]["From"] == [f"whatsapp:{p.BUSINESS}"]
    assert result.message_type == "whatsapp"


def test_whatsapp_through_twilio_threads_with_the_customers_messages(
        history: omnicx.History) -> None:
    adapter, _ = twilio(lambda request: httpx.Response(201, json=p.message_resource()))
    body = p.whatsapp(sender=p.CUSTOMER)
    (inbound,) = history.receive(adapter.for_url(p.URL), body=body,
                                 headers=adapter.sign(body)).interactions
    sent = history.send(adapter.whatsapp(), to=history.contacts.get(inbound.contact_id),
                        text="Thanks!")
    assert (sent.channel, sent.conversation_id) == ("whatsapp", inbound.conversation_id)


def test_the_closed_whatsapp_window_is_its_own_error() -> None:
    adapter, _ = twilio(lambda request: httpx.Response(400, json=p.error_body(
        63016, "Failed to send freeform message because you are outside the allowed window.",
        400)))
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    with pytest.raises(omnicx.WindowClosedError) as raised:
        adapter.whatsapp().send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))
    assert raised.value.code == 63016 and not raised.value.retryable


@pytest.mark.parametrize(("status", "code", "message", "retryable"), [
    (400, 21211, "The 'To' number +1555123 is not a valid phone number.", False),
    (400, 21610, "Attempt to send to unsubscribed recipient", False),
    (400, 21614, "'To' number is not a valid mobile number", False),
    (400, 63016, "Failed to send freeform message because you are outside the allowed window.",
     False),
    (500, 20500, "An internal server error has occurred", True),
    (503, 99999, "Service unavailable", True),
    (401, 20003, "Authenticate", False),
])
def test_errors_are_typed_and_keep_no_number(
        history: omnicx.History, status: int, code: int, message: str, retryable: bool) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json=p.error_body(code, message, status))

    adapter, _ = twilio(handler)
    with pytest.raises(SendError) as raised:
        history.send(adapter, to=p.CUSTOMER, text="Hello")
    assert (raised.value.code, raised.value.retryable) == (code, retryable)
    assert len(calls) == 1  # a POST that may have created a message is never repeated
    assert "+1555123" not in str(raised.value)
    (failed,) = [i for c in history.contacts for i in history.timeline(c).items]
    assert failed.status == "failed"
    assert all("+1555123" not in (s.error or "") for s in history.statuses(failed))
    if code in TWILIO_ERRORS:
        assert TWILIO_ERRORS[code].title in str(raised.value)


def test_throttling_is_retried_with_backoff_and_retry_after() -> None:
    answers = [httpx.Response(429, json=p.error_body(20429, "Too Many Requests", 429),
                              headers={"Retry-After": "3"}),
               httpx.Response(429, json=p.error_body(20429, "Too Many Requests", 429)),
               httpx.Response(201, json=p.message_resource())]

    adapter, sleeps = twilio(lambda request: answers.pop(0))
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    result = adapter.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))
    assert result.external_id == p.MESSAGE_SID
    assert sleeps == [3.0, 2.0]


def test_throttling_gives_up_after_max_retries() -> None:
    adapter, sleeps = twilio(
        lambda request: httpx.Response(429, json=p.error_body(20429, "Too Many", 429)),
        max_retries=2)
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    with pytest.raises(SendError) as raised:
        adapter.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))
    assert raised.value.retryable and raised.value.code == 20429 and len(sleeps) == 2


def test_connection_failures_are_retried_and_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    adapter, sleeps = twilio(handler, max_retries=1)
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    with pytest.raises(SendError) as raised:
        adapter.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))
    assert raised.value.retryable and sleeps == [1.0]


def test_a_success_without_sid_or_json_is_a_send_error() -> None:
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    for answer in (httpx.Response(201, json={"status": "queued"}),
                   httpx.Response(201, text="<html>"), httpx.Response(201, json=[1])):
        adapter, _ = twilio(lambda request, answer=answer: answer)
        with pytest.raises(SendError):
            adapter.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))


def test_nothing_to_send_or_no_sender_is_refused() -> None:
    to = omnicx.Address(kind="phone", value=p.CUSTOMER)
    adapter, _ = twilio(lambda request: httpx.Response(500))
    with pytest.raises(SendError):
        adapter.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to))
    bare = Twilio(account_sid=p.ACCOUNT_SID, auth_token="t")
    with pytest.raises(omnicx.ConfigurationError):
        bare.send(omnicx.Outgoing(client_id="c", contact_id=1, to=to, text="Hi"))


def test_a_bad_number_is_a_configuration_error() -> None:
    with pytest.raises(omnicx.ConfigurationError):
        Twilio(account_sid=p.ACCOUNT_SID, number="call me")
    assert Twilio(account_sid=p.ACCOUNT_SID, number="whatsapp:+41 44 555 12 34").number == (
        "+41445551234")


def test_mms_media_is_copied_into_the_blob_store(history: omnicx.History) -> None:
    jpeg = b"\xff\xd8\xff\xe0 a photo of the parcel"
    media = (f"https://api.twilio.com/2010-04-01/Accounts/{p.ACCOUNT_SID}/Messages/MM1"
             "/Media/ME1")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.twilio.com":  # Twilio redirects to its storage
            return httpx.Response(307, headers={"Location": "https://s3.example.com/ME1"})
        return httpx.Response(200, content=jpeg, headers={"Content-Type": "image/jpeg"})

    adapter, _ = twilio(handler)
    body = p.sms(media=[(media, "image/jpeg")])
    (mms,) = history.receive(adapter.for_url(p.URL), body=body,
                             headers=adapter.sign(body)).interactions
    blobs = omnicx.MemoryBlobStore()
    (stored,) = adapter.download_attachments(mms, store=blobs)
    assert blobs.get(stored.ref or "") == jpeg
    assert (stored.content_type, stored.size) == ("image/jpeg", len(jpeg))
    assert seen[0].headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in seen[1].headers  # credentials never leave Twilio


@pytest.mark.parametrize(("answer", "error"), [
    (httpx.Response(404, json=p.error_body(20404, "The requested resource was not found", 404)),
     SendError),
    (httpx.Response(200, content=b"x" * 50), omnicx.PayloadError),
    (httpx.Response(200, content=b"x" * 50, headers={"Content-Length": "999999"}),
     omnicx.PayloadError),
])
def test_media_that_is_gone_or_too_large(answer: httpx.Response, error: type) -> None:
    adapter, _ = twilio(lambda request: answer, max_media_bytes=10)
    with pytest.raises(error):
        adapter.download("https://api.twilio.com/x", store=omnicx.MemoryBlobStore())
    with pytest.raises(SendError):
        adapter.download("http://api.twilio.com/x")
