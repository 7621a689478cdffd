"""WhatsApp outbound through httpx.MockTransport: payloads, retries, errors, window, media."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import httpx
import pytest
from _http_double import Handler, Recorder

from omnicx import (
    Address,
    ConfigurationError,
    Interaction,
    Outgoing,
    PayloadError,
    SendError,
    Status,
    WindowClosedError,
)
from omnicx._blobs import MemoryBlobStore
from omnicx.channels import WhatsApp

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
PHONE = Address(kind="phone", value="+16505551234")
BSUID = Address(kind="whatsapp", value="US.13491208655302741918")
PNID = "106540352242922"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
    "messages": [{"id": WAMID, "message_status": "accepted"}],
}

def channel(recorder: Recorder, sleeps: list[float] | None = None, **kwargs: Any) -> WhatsApp:
    return WhatsApp(
        phone_number_id=PNID,
        access_token="EAAG-token",
        transport=httpx.MockTransport(recorder),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
        clock=lambda: NOW,
        **kwargs,
    )


def outgoing(text: str | None = "Your parcel left our warehouse.", *, to: Address = PHONE,
             last_inbound: dt.timedelta | None = dt.timedelta(hours=1),
             **options: Any) -> Outgoing:
    return Outgoing(
        client_id="omnicx:5b1f", contact_id=1, to=to, text=text,
        last_inbound_at=None if last_inbound is None else NOW - last_inbound,
        options=options,
    )


def graph_error(
    code: int, status: int = 400, message: str = "error", **extra: Any
) -> httpx.Response:
    error = {"message": message, "type": "OAuthException", "code": code,
             "fbtrace_id": "AbCdEf", **extra}
    return httpx.Response(status, json={"error": error})


# -- requests ------------------------------------------------------------------------


def test_text_message_request_and_result() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    result = channel(recorder).send(outgoing())
    request = recorder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"https://graph.facebook.com/v23.0/{PNID}/messages"
    assert request.headers["Authorization"] == "Bearer EAAG-token"
    assert recorder.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Your parcel left our warehouse.", "preview_url": False},
        "biz_opaque_callback_data": "omnicx:5b1f",
    }
    assert result.external_id == WAMID
    assert result.status is Status.SENT
    assert result.message_type == "text"
    assert result.text == "Your parcel left our warehouse."
    assert result.occurred_at == NOW
    assert result.data["message_status"] == "accepted"
    assert result.data["contact"]["wa_id"] == "16505551234"


def test_configurable_api_version_and_base_url() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    channel(recorder, api_version="v21.0", base_url="https://graph.example").send(outgoing())
    assert str(recorder.requests[0].url) == f"https://graph.example/v21.0/{PNID}/messages"


def test_bsuid_recipient_uses_the_recipient_field() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    channel(recorder).send(outgoing(to=BSUID))
    body = recorder.json()
    assert body["recipient"] == "US.13491208655302741918"
    assert "to" not in body


def test_an_email_address_cannot_be_a_whatsapp_recipient() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    with pytest.raises(SendError, match="cannot send to a email"):
        channel(recorder).send(outgoing(to=Address(kind="email", value="a@example.com")))
    assert recorder.requests == []


def test_reply_sets_the_context() -> None:
    original = Interaction(
        id=1, contact_id=1, conversation_id=1, channel="whatsapp", account=PNID,
        direction="inbound", kind="message", external_id="wamid.INBOUND1",
        occurred_at=NOW, received_at=NOW,
    )
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    message = Outgoing(client_id="c1", contact_id=1, to=PHONE, text="Yes!",
                       reply_to=original, last_inbound_at=NOW)
    channel(recorder).send(message)
    assert recorder.json()["context"] == {"message_id": "wamid.INBOUND1"}


def test_template_with_components_and_language() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    components = [{"type": "body", "parameters": [{"type": "text", "text": "A-1042"}]}]
    result = channel(recorder).send(outgoing(
        None, last_inbound=None,
        template={"name": "order_shipped", "language": "en_US", "components": components},
    ))
    body = recorder.json()
    assert body["type"] == "template"
    assert body["template"] == {"name": "order_shipped", "language": {"code": "en_US"},
                                "components": components}
    assert result.message_type == "template"
    assert result.text is None


def test_template_by_name_with_language_beside_it() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    channel(recorder).send(outgoing(None, last_inbound=None, template="hello_world",
                                    language={"code": "de"}))
    assert recorder.json()["template"] == {"name": "hello_world", "language": {"code": "de"}}


def test_template_without_language_is_refused_before_any_call() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    with pytest.raises(ConfigurationError, match="needs a language"):
        channel(recorder).send(outgoing(None, template={"name": "hello_world"}))
    assert recorder.requests == []


def test_media_by_link_with_caption() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    result = channel(recorder).send(outgoing(
        "Here is your invoice",
        media={"type": "document", "link": "https://example.com/i.pdf", "filename": "i.pdf"},
    ))
    body = recorder.json()
    assert body["type"] == "document"
    assert body["document"] == {"link": "https://example.com/i.pdf",
                                "caption": "Here is your invoice", "filename": "i.pdf"}
    assert result.text == "Here is your invoice"


def test_media_by_uploaded_id() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    channel(recorder).send(outgoing(None, media={"type": "audio", "id": "1013859600285441"}))
    assert recorder.json()["audio"] == {"id": "1013859600285441"}


def test_media_bytes_are_uploaded_then_sent_by_id() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"id": "1166846181421424"}),
        httpx.Response(200, json=ACCEPTED),
    )
    channel(recorder).send(outgoing(
        "Look", media={"type": "image", "data": b"\x89PNG...", "content_type": "image/png",
                       "filename": "shot.png"},
    ))
    upload, send = recorder.requests
    assert str(upload.url).endswith(f"/{PNID}/media")
    assert b'name="messaging_product"' in upload.content
    assert b"image/png" in upload.content and b"\x89PNG..." in upload.content
    assert json.loads(send.content)["image"] == {"id": "1166846181421424", "caption": "Look"}


def test_interactive_is_passed_through() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    interactive = {"type": "button", "body": {"text": "Confirm?"},
                   "action": {"buttons": [{"type": "reply",
                                           "reply": {"id": "yes", "title": "Yes"}}]}}
    channel(recorder).send(outgoing("Confirm?", interactive=interactive))
    assert recorder.json()["interactive"] == interactive


def test_mark_read_with_typing_indicator() -> None:
    recorder = Recorder(httpx.Response(200, json={"success": True}))
    channel(recorder).mark_read("wamid.INBOUND1", typing=True)
    assert recorder.json() == {"messaging_product": "whatsapp", "status": "read",
                               "message_id": "wamid.INBOUND1",
                               "typing_indicator": {"type": "text"}}


def test_without_access_token_is_a_configuration_error() -> None:
    wa = WhatsApp(phone_number_id=PNID, clock=lambda: NOW)
    with pytest.raises(ConfigurationError, match="access_token"):
        wa.send(outgoing())


# -- the 24-hour window ------------------------------------------------------------------


@pytest.mark.parametrize("ago", [None, dt.timedelta(hours=24), dt.timedelta(days=3)])
def test_free_form_outside_the_window_is_refused_without_a_call(ago: dt.timedelta | None) -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    with pytest.raises(WindowClosedError, match="template is needed") as info:
        channel(recorder).send(outgoing(last_inbound=ago))
    assert info.value.code == 131047
    assert not info.value.retryable
    assert recorder.requests == []


def test_media_upload_is_not_attempted_outside_the_window() -> None:
    recorder = Recorder(httpx.Response(200, json={"id": "1"}))
    with pytest.raises(WindowClosedError):
        channel(recorder).send(outgoing(None, last_inbound=None,
                                        media={"type": "image", "data": b"x"}))
    assert recorder.requests == []


def test_free_form_just_inside_the_window_is_sent() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCEPTED))
    channel(recorder).send(outgoing(last_inbound=dt.timedelta(hours=23, minutes=59)))
    assert len(recorder.requests) == 1


def test_window_helpers() -> None:
    wa = channel(Recorder(httpx.Response(200, json=ACCEPTED)))
    assert wa.window_open(NOW - dt.timedelta(hours=2))
    assert not wa.window_open(NOW - dt.timedelta(hours=25))
    assert not wa.window_open(None)
    assert wa.window_closes_at(NOW) == NOW + dt.timedelta(hours=24)


def test_provider_window_error_is_a_window_closed_error() -> None:
    recorder = Recorder(graph_error(131047, message="Re-engagement message"))
    with pytest.raises(WindowClosedError, match="send a template") as info:
        channel(recorder).send(outgoing())
    assert info.value.code == 131047


# -- retries and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "throttled"),
    [
        (graph_error(130429, message="Rate limit hit"), True),
        (graph_error(131056, message="Pair rate limit hit"), True),
        (graph_error(4, message="Application request limit reached"), True),
        (graph_error(80007, message="Rate limit issues"), True),
        (graph_error(1, message="An unknown error occurred"), False),
        (graph_error(2, message="Service temporarily unavailable"), False),
        (graph_error(131000, status=500, message="Something went wrong"), False),
        (graph_error(131016, status=503, message="Service unavailable"), False),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), False),
        (httpx.Response(429, text=""), True),
    ],
)
def test_transient_failures_are_retried_with_backoff(
    failure: httpx.Response, throttled: bool
) -> None:
    sleeps: list[float] = []
    recorder = Recorder(failure, failure, httpx.Response(200, json=ACCEPTED))
    result = channel(recorder, sleeps).send(outgoing())
    assert result.external_id == WAMID
    assert len(recorder.requests) == 3
    base = 5.0 if throttled else 1.0
    assert sleeps == [base, base * 2]


def test_retry_after_header_is_honoured() -> None:
    sleeps: list[float] = []
    throttled = graph_error(130429)
    throttled.headers["Retry-After"] = "7"
    recorder = Recorder(throttled, httpx.Response(200, json=ACCEPTED))
    channel(recorder, sleeps).send(outgoing())
    assert sleeps == [7.0]


def test_business_use_case_usage_estimate_is_honoured() -> None:
    sleeps: list[float] = []
    throttled = graph_error(80007)
    throttled.headers["X-Business-Use-Case-Usage"] = json.dumps(
        {"102290129340398": [{"type": "whatsapp_business_management", "call_count": 100,
                              "estimated_time_to_regain_access": 2}]}
    )
    recorder = Recorder(throttled, httpx.Response(200, json=ACCEPTED))
    channel(recorder, sleeps).send(outgoing())
    assert sleeps == [120.0]


def test_a_wait_longer_than_max_wait_gives_up_retryable() -> None:
    sleeps: list[float] = []
    throttled = graph_error(130429)
    throttled.headers["Retry-After"] = "3600"
    recorder = Recorder(throttled)
    with pytest.raises(SendError) as info:
        channel(recorder, sleeps, max_wait=60).send(outgoing())
    assert info.value.retryable and info.value.code == 130429
    assert sleeps == []


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    recorder = Recorder(graph_error(131000, status=500))
    with pytest.raises(SendError) as info:
        channel(recorder, sleeps, max_retries=3).send(outgoing())
    assert info.value.retryable
    assert info.value.code == 131000
    assert len(recorder.requests) == 4
    assert sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (131026, 400, "Message undeliverable"),
        (190, 401, "Error validating access token: Session has expired"),
        (100, 400, "Invalid parameter"),
        (131051, 400, "Unsupported message type"),
        (132001, 404, "Template name does not exist in the translation"),
    ],
)
def test_permanent_errors_raise_at_once_with_the_code(code: int, status: int, message: str) -> None:
    sleeps: list[float] = []
    recorder = Recorder(graph_error(code, status=status, message=message,
                                    error_data={"details": "see docs"}))
    with pytest.raises(SendError) as info:
        channel(recorder, sleeps).send(outgoing())
    assert info.value.code == code
    assert not info.value.retryable
    assert message in str(info.value) and "see docs" in str(info.value)
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_connection_errors_are_retried_then_translated() -> None:
    sleeps: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder = Recorder(refuse)
    with pytest.raises(SendError, match="cannot reach") as info:
        channel(recorder, sleeps, max_retries=2).send(outgoing())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.retryable
    assert len(recorder.requests) == 3


def test_a_connect_timeout_is_retried_even_for_send() -> None:
    calls: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectTimeout("no route", request=request)
        return httpx.Response(200, json=ACCEPTED)

    assert channel(Recorder(flaky)).send(outgoing()).external_id == WAMID
    assert len(calls) == 2


def test_a_read_timeout_on_send_is_not_retried_to_avoid_duplicates() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    recorder = Recorder(slow)
    with pytest.raises(SendError) as info:
        channel(recorder).send(outgoing())
    assert info.value.retryable
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(recorder.requests) == 1


def test_success_without_an_id_is_a_send_error() -> None:
    recorder = Recorder(httpx.Response(200, json={"messages": []}))
    with pytest.raises(SendError, match="no id"):
        channel(recorder).send(outgoing())


def test_success_without_json_is_a_send_error() -> None:
    recorder = Recorder(httpx.Response(200, text="<html>"))
    with pytest.raises(SendError, match="without JSON"):
        channel(recorder).send(outgoing())


# -- media download ---------------------------------------------------------------------


MEDIA = b"\xff\xd8\xff\xe0 a small jpeg"
MEDIA_SHA = hashlib.sha256(MEDIA).hexdigest()
MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256"


def media_api(content: bytes = MEDIA, *, size: int | None = None,
              sha: str = MEDIA_SHA) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.facebook.com":
            return httpx.Response(200, json={
                "messaging_product": "whatsapp", "url": MEDIA_URL, "mime_type": "image/jpeg",
                "sha256": sha, "file_size": len(content) if size is None else size,
                "id": "1003383421387256",
            })
        return httpx.Response(200, content=content, headers={"Content-Type": "image/jpeg"})

    return handle


def test_download_media_into_the_blob_store() -> None:
    recorder = Recorder(media_api())
    store = MemoryBlobStore()
    webhook_hash = base64.b64encode(hashlib.sha256(MEDIA).digest()).decode()
    attachment = channel(recorder).download_media(
        "1003383421387256", store=store, expected_sha256=webhook_hash, filename="photo.jpg"
    )
    meta, blob = recorder.requests
    assert str(meta.url) == "https://graph.facebook.com/v23.0/1003383421387256"
    assert str(blob.url) == MEDIA_URL
    assert blob.headers["Authorization"] == "Bearer EAAG-token"
    assert attachment.sha256 == MEDIA_SHA
    assert attachment.size == len(MEDIA)
    assert attachment.content_type == "image/jpeg"
    assert attachment.filename == "photo.jpg"
    assert store.get(attachment.ref or "") == MEDIA


def test_download_media_uses_the_configured_store() -> None:
    store = MemoryBlobStore()
    wa = channel(Recorder(media_api()), blobs=store)
    attachment = wa.download_media("1003383421387256")
    assert attachment.ref in store


def test_download_media_refuses_a_size_mismatch() -> None:
    with pytest.raises(PayloadError, match="announced"):
        channel(Recorder(media_api(size=5))).download_media("1", store=MemoryBlobStore())


def test_download_media_refuses_a_hash_mismatch() -> None:
    store = MemoryBlobStore()
    with pytest.raises(PayloadError, match="SHA-256"):
        channel(Recorder(media_api(sha="0" * 64))).download_media("1", store=store)
    assert len(store) == 0


def test_download_media_refuses_a_webhook_hash_mismatch() -> None:
    with pytest.raises(PayloadError, match="the caller"):
        channel(Recorder(media_api())).download_media(
            "1", store=MemoryBlobStore(), expected_sha256="f" * 64
        )


def test_download_media_refuses_oversized_media() -> None:
    with pytest.raises(PayloadError, match="max_media_bytes"):
        channel(Recorder(media_api()), max_media_bytes=4).download_media(
            "1", store=MemoryBlobStore()
        )


def test_download_media_expired_id_is_a_send_error() -> None:
    recorder = Recorder(graph_error(100, message="Unsupported get request", error_subcode=33))
    with pytest.raises(SendError) as info:
        channel(recorder).download_media("1", store=MemoryBlobStore())
    assert info.value.code == 100
