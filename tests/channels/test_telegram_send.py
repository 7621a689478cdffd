"""Telegram outbound and polling (httpx.MockTransport with the Bot API's documented bodies),
and the Telegram history: one person across channels, edits, durable polling."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
import telegram_payloads as p
from _http_double import Recorder

import omnicx
from omnicx import (
    Address,
    ConfigurationError,
    Outgoing,
    SendError,
    Status,
)
from omnicx.channels import Telegram

CHAT = Address(kind="telegram", value=str(p.USER_ID))
BLOCKED = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
FLOOD = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 15",
         "parameters": {"retry_after": 15}}
NOT_FOUND = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
CONFLICT = {"ok": False, "error_code": 409,
            "description": "Conflict: can't use getUpdates method while webhook is active;"
                           " use deleteWebhook to delete the webhook first"}

def sent(message_id: int = 1400, **content: Any) -> dict[str, Any]:
    return {"ok": True, "result": p.message(message_id, sender=p.bot(), date=p.DATE + 100,
                                            **(content or {"text": "Hello"}))}


def telegram(recorder: Recorder, sleeps: list[float] | None = None, **kw: Any) -> Telegram:
    return Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET,
                    transport=httpx.MockTransport(recorder),
                    sleep=(sleeps if sleeps is not None else []).append, **kw)


def outgoing(text: str | None = "Hello", **options: Any) -> Outgoing:
    return Outgoing(client_id="omnicx:1", contact_id=1, to=CHAT, text=text, options=options)


def test_send_message() -> None:
    recorder = Recorder(httpx.Response(200, json=sent()))
    result = telegram(recorder).send(outgoing(parse_mode="HTML"))
    assert result.external_id == f"{p.CHAT_ID}:1400" and result.status == Status.SENT
    assert result.occurred_at == dt.datetime.fromtimestamp(p.DATE + 100, dt.UTC)
    request = recorder.requests[0]
    assert request.url == f"https://api.telegram.org/bot{p.BOT_TOKEN}/sendMessage"
    assert recorder.json() == {"chat_id": p.USER_ID, "text": "Hello", "parse_mode": "HTML"}


def test_send_photo_by_id_and_document_by_upload() -> None:
    recorder = Recorder(httpx.Response(200, json=sent(photo=p.photo_sizes())))
    result = telegram(recorder).send(outgoing("Your label", photo="AgADBAADbqcxG-large"))
    assert result.message_type == "photo"
    assert recorder.requests[0].url.path.endswith("/sendPhoto")
    assert recorder.json() == {"chat_id": p.USER_ID, "caption": "Your label",
                               "photo": "AgADBAADbqcxG-large"}
    upload = Recorder(httpx.Response(200, json=sent(document=p.CONTENT["document"]["document"])))
    telegram(upload).send(outgoing("Invoice", document={
        "data": b"%PDF-1.7", "filename": "invoice.pdf", "content_type": "application/pdf"}))
    request = upload.requests[0]
    assert request.url.path.endswith("/sendDocument")
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'filename="invoice.pdf"' in request.content and b"%PDF-1.7" in request.content


def test_reply_goes_to_the_original_message() -> None:
    history = omnicx.open(":memory:")
    recorder = Recorder(httpx.Response(200, json=sent()))
    tg = telegram(recorder)
    body = p.body(p.of("text"))
    history.receive(tg, body=body, headers=tg.sign(body))
    contact = history.contacts.find(CHAT)
    assert contact is not None
    (question,) = history.timeline(contact).items
    answer = history.send(tg, to=contact, text="We are on it", reply_to=question)
    assert recorder.json()["reply_parameters"] == {"message_id": 1365,
                                                   "allow_sending_without_reply": True}
    assert answer.conversation_id == question.conversation_id


@pytest.mark.parametrize(("body", "status", "code", "retryable"), [
    (BLOCKED, 403, 403, False), (NOT_FOUND, 400, 400, False), (CONFLICT, 409, 409, False),
])
def test_documented_errors_are_permanent(body: dict[str, Any], status: int, code: int,
                                         retryable: bool) -> None:
    recorder = Recorder(httpx.Response(status, json=body))
    with pytest.raises(SendError) as info:
        telegram(recorder).send(outgoing())
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert len(recorder.requests) == 1
    assert p.BOT_TOKEN not in str(info.value)


def test_flood_control_waits_retry_after() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(429, json=FLOOD), httpx.Response(200, json=sent()))
    assert telegram(recorder, sleeps).send(outgoing()).external_id == f"{p.CHAT_ID}:1400"
    assert sleeps == [15.0]
    too_long = Recorder(httpx.Response(429, json={**FLOOD, "parameters": {"retry_after": 900}}))
    with pytest.raises(SendError) as info:
        telegram(too_long, [], max_wait=60).send(outgoing())
    assert info.value.code == 429 and info.value.retryable


def test_server_errors_retry_and_network_errors_never_leak_the_token() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(502, text="<html>Bad Gateway</html>"),
                        httpx.Response(200, json=sent()))
    telegram(recorder, sleeps).send(outgoing())
    assert sleeps == [1.0]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    with pytest.raises(SendError) as info:
        telegram(Recorder(refuse), [], max_retries=1).send(outgoing())
    assert info.value.retryable and p.BOT_TOKEN not in str(info.value)
    assert "<token>" in str(info.value)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    with pytest.raises(SendError) as info:  # sent, maybe delivered: not retried
        telegram(Recorder(timeout), []).send(outgoing())
    assert info.value.__cause__ is None and p.BOT_TOKEN not in str(info.value)


def test_failed_send_is_recorded_without_the_token() -> None:
    history = omnicx.open(":memory:")
    tg = telegram(Recorder(httpx.Response(403, json=BLOCKED)))
    with pytest.raises(SendError):
        history.send(tg, to=CHAT, text="Hello?")
    contact = history.contacts.find(CHAT)
    assert contact is not None
    (item,) = history.timeline(contact).items
    assert item.status == Status.FAILED
    (failure,) = history.statuses(item)
    assert failure.error is not None and "blocked by the user" in failure.error


def test_sending_needs_a_token_and_content() -> None:
    with pytest.raises(ConfigurationError):
        Telegram(bot_id="123456").send(outgoing())
    with pytest.raises(ConfigurationError):
        telegram(Recorder(httpx.Response(200, json=sent()))).send(outgoing(text=None))


# -- polling -----------------------------------------------------------------------------

def updates(*values: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"ok": True, "result": list(values)})


def test_polling_stores_updates_with_the_next_offset() -> None:
    history = omnicx.open(":memory:")
    recorder = Recorder(updates(p.of("text"), p.of("photo", 1366, 10001)), updates())
    tg = Telegram(bot_token=p.BOT_TOKEN, transport=httpx.MockTransport(recorder))
    receipt = history.poll(tg)
    assert receipt.stored == 2
    assert recorder.json(0) == {"limit": 100, "timeout": 0}
    assert history.cursor(tg.poll_cursor) == "10002"
    assert history.poll(tg).stored == 0
    assert recorder.json(1)["offset"] == 10002  # confirms 10000 and 10001 to Telegram


def test_a_crash_before_commit_fetches_again_and_stores_once(tmp_path: Any) -> None:
    path = tmp_path / "history.db"
    recorder = Recorder(updates(p.of("text"), p.edited(update_id=10001)))
    tg = Telegram(bot_token=p.BOT_TOKEN, transport=httpx.MockTransport(recorder))
    history = omnicx.open(path)
    first = history.poll(tg)
    assert (first.stored, first.updates) == (1, 1)
    # The offset was committed with the updates; pretend it was not (a crash
    # between Telegram's answer and our commit): the same updates come again.
    history.store.atomic(lambda tx: tx.set_cursor(tg.poll_cursor, "10000",
                                                  dt.datetime.now(dt.UTC)))
    again = history.poll(tg)
    assert (again.stored, again.duplicates) == (0, 2)
    history.close()


def test_polled_updates_need_no_secret_and_malformed_ones_are_quarantined() -> None:
    history = omnicx.open(":memory:")
    broken = {"update_id": 10001, "message": {"message_id": "x"}}
    recorder = Recorder(updates(p.of("text"), broken))
    tg = Telegram(bot_token=p.BOT_TOKEN, transport=httpx.MockTransport(recorder))
    receipt = history.poll(tg)
    assert (receipt.stored, receipt.quarantined) == (1, 1)
    assert history.cursor(tg.poll_cursor) == "10002"
    (kept,) = history.quarantine()
    assert json.loads(kept.body) == broken


def test_polling_while_a_webhook_is_set_is_a_send_error() -> None:
    history = omnicx.open(":memory:")
    tg = Telegram(bot_token=p.BOT_TOKEN,
                  transport=httpx.MockTransport(Recorder(httpx.Response(409, json=CONFLICT))))
    with pytest.raises(SendError, match="deleteWebhook"):
        history.poll(tg)


# -- one person --------------------------------------------------------------------------

def test_a_shared_phone_number_makes_whatsapp_and_telegram_one_contact() -> None:
    from omnicx.channels import WhatsApp

    history = omnicx.open(":memory:")
    wa = WhatsApp(phone_number_id="106540352242922", app_secret="secret")
    wa_body = json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881",
                         "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Anna Muster"}, "wa_id": "41791234567"}],
            "messages": [{"from": "41791234567", "id": "wamid.HBgLNDE3OTEyMzQ1NjcVAgASGBQ",
                          "timestamp": "1744344496", "type": "text",
                          "text": {"body": "Where is my parcel?"}}]}}]}]}).encode()
    history.receive(wa, body=wa_body, headers=wa.sign(wa_body))
    tg = Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET)
    for value in (p.of("text"), p.of("contact", 1366, 10001)):
        body = p.body(value)
        history.receive(tg, body=body, headers=tg.sign(body))
    (person,) = list(history.contacts)  # merged: the Telegram user proved the number theirs
    by_phone = history.contacts.find("+41 79 123 45 67")
    by_telegram = history.contacts.find(CHAT)
    assert by_phone is not None and by_telegram is not None
    assert by_phone.id == by_telegram.id == person.id
    channels = sorted(str(i.channel) for i in history.timeline(person).items)
    assert channels == ["telegram", "telegram", "whatsapp"]
    assert history.verify().ok


def test_edits_attach_to_the_original_and_blocking_is_on_the_timeline() -> None:
    history = omnicx.open(":memory:")
    tg = Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET)
    for value in (p.edited(), p.of("text"), p.my_chat_member()):
        body = p.body(value)
        history.receive(tg, body=body, headers=tg.sign(body))
    assert history.gaps() == []  # the early edit's gap closed when the message came
    contact = history.contacts.find(CHAT)
    assert contact is not None
    items = history.timeline(contact).items
    assert [i.message_type for i in items] == ["bot_blocked", "text"]
    assert [str(e.kind) for e in history.events(items[1])] == ["edited"]


# -- files -------------------------------------------------------------------------------

def test_download_attachments_through_get_file() -> None:
    from omnicx import MemoryBlobStore, PayloadError

    content = b"\xff\xd8\xff\xe0 a photo of a broken box"

    def bot_api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getFile"):
            file_id = json.loads(request.content)["file_id"]
            return httpx.Response(200, json={"ok": True, "result": {
                "file_id": file_id, "file_unique_id": "AQADbqcxG3",
                "file_size": len(content) if file_id.endswith("large") else 1,
                "file_path": "photos/file_7.jpg"}})
        assert request.url.path == f"/file/bot{p.BOT_TOKEN}/photos/file_7.jpg"
        return httpx.Response(200, content=content)

    history = omnicx.open(":memory:")
    tg = Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET,
                  transport=httpx.MockTransport(bot_api))
    body = p.body(p.of("photo"))
    (item,) = history.receive(tg, body=body, headers=tg.sign(body)).interactions
    store = MemoryBlobStore()
    (stored,) = tg.download_attachments(item, store=store)
    assert store.get(stored.ref or "") == content
    assert (stored.size, stored.content_type, stored.filename) == (
        len(content), "image/jpeg", "file_7.jpg")
    with pytest.raises(PayloadError, match="announced"):
        tg.download_file("AgADBAADbqcxG-small", store=store)


def test_a_missing_file_is_a_permanent_error_without_the_token() -> None:
    def bot_api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getFile"):
            return httpx.Response(200, json={"ok": True, "result": {
                "file_id": "x", "file_unique_id": "y", "file_path": "documents/file_1.pdf"}})
        return httpx.Response(404, text="Not Found")

    tg = Telegram(bot_token=p.BOT_TOKEN, transport=httpx.MockTransport(bot_api))
    with pytest.raises(SendError) as info:
        tg.download_file("x")
    assert info.value.code == 404 and not info.value.retryable
    assert p.BOT_TOKEN not in str(info.value)
