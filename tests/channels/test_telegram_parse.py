"""Telegram update parsing and the secret-token check, from the Bot API's documented objects."""

from __future__ import annotations

import datetime as dt

import pytest
import telegram_payloads as p

from omnicx import (
    ConfigurationError,
    EventKind,
    Kind,
    MessageEvent,
    PayloadError,
    SignatureError,
    UpdateEvent,
)
from omnicx.channels import Telegram

TG = Telegram(bot_token=p.BOT_TOKEN, secret_token=p.SECRET)


def one(value: dict[str, object]) -> MessageEvent | UpdateEvent:
    (event,) = TG.parse(p.body(value), {})
    assert isinstance(event, MessageEvent | UpdateEvent)
    return event


def message(kind: str) -> MessageEvent:
    event = one(p.of(kind))
    assert isinstance(event, MessageEvent)
    return event


def test_text_message_identity_and_threading_key() -> None:
    event = message("text")
    assert (event.channel, event.account, event.external_id) == ("telegram", "123456",
                                                                 "1111111:1365")
    assert [str(a) for a in event.contact] == ["telegram:1111111"]
    assert event.contact_name == "Anna Muster"
    assert event.text == "Hello, my parcel has not arrived" and event.message_type == "text"
    assert event.occurred_at == dt.datetime(2015, 9, 7, 17, 5, 32, tzinfo=dt.UTC)
    assert event.thread_key == "tg:123456:1111111"
    assert event.data["username"] == "anna_muster"


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    event = message("photo")
    (photo,) = event.attachments
    assert (photo.ref, photo.size, photo.content_type) == ("AgADBAADbqcxG-large", 97365,
                                                           "image/jpeg")
    assert event.text == "The box was broken"
    assert event.data["photo"] == {"width": 1280, "height": 960, "file_unique_id": "AQADbqcxG3"}


@pytest.mark.parametrize(("kind", "content_type", "filename", "size"), [
    ("document", "application/pdf", "invoice-4711.pdf", 48213),
    ("voice", "audio/ogg", None, 23040),
    ("video", "video/mp4", "box.mp4", 1048576),
    ("video_note", "video/mp4", None, 301234),
    ("audio", "audio/mpeg", "complaint.mp3", 2930000),
    ("sticker", "image/webp", None, 25000),
])
def test_media_become_attachments(kind: str, content_type: str, filename: str | None,
                                  size: int) -> None:
    event = message(kind)
    (attachment,) = event.attachments
    assert event.message_type == kind and event.kind == Kind.MESSAGE
    assert (attachment.content_type, attachment.filename, attachment.size) == (
        content_type, filename, size)
    assert attachment.ref == p.CONTENT[kind][kind]["file_id"]


def test_sticker_text_is_its_emoji_and_voice_keeps_its_duration() -> None:
    assert message("sticker").text == "\U0001F44D"
    assert message("voice").data["voice"]["duration"] == 7


def test_location_and_venue_are_data() -> None:
    location = message("location")
    assert location.data["location"] == {"latitude": 47.376887, "longitude": 8.541694}
    venue = message("venue")
    assert venue.text == "Acme Store Zurich, Seefeldstrasse 1, Zurich"
    assert venue.data["venue"]["location"]["latitude"] == 47.3665


def test_sharing_ones_own_contact_links_the_phone_number() -> None:
    event = message("contact")
    assert [str(a) for a in event.contact] == ["telegram:1111111", "phone:+41791234567"]


def test_sharing_someone_elses_contact_links_nothing() -> None:
    value = p.of("contact")
    value["message"]["contact"] = {"phone_number": "+41 44 668 18 00", "first_name": "Bob",
                                   "user_id": 2222222}
    event = one(value)
    assert isinstance(event, MessageEvent)
    assert [str(a) for a in event.contact] == ["telegram:1111111"]
    assert event.data["contact"]["first_name"] == "Bob"


def test_reply_threads_to_the_parent_in_the_same_chat() -> None:
    event = one(p.reply())
    assert isinstance(event, MessageEvent) and event.reply_to == "1111111:1365"


def test_edited_message_is_an_edit_of_the_original() -> None:
    event = one(p.edited())
    assert isinstance(event, UpdateEvent) and event.kind == EventKind.EDITED
    assert (event.target, event.event_id) == ("1111111:1365", "edit:10002")
    assert event.occurred_at is not None and event.occurred_at.timestamp() == p.DATE + 60
    assert event.data["text"] == "Hello, my parcel has still not arrived"


def test_callback_query_threads_to_the_message_with_the_button() -> None:
    event = one(p.callback())
    assert isinstance(event, MessageEvent)
    assert (event.external_id, event.message_type, event.text) == (
        "callback:4382bfdwdsb323b2d9", "callback_query", "rate:5")
    assert event.thread_refs == ("1111111:1370",)


def test_blocking_and_unblocking_the_bot() -> None:
    blocked = one(p.my_chat_member())
    assert isinstance(blocked, MessageEvent) and blocked.kind == Kind.SYSTEM
    assert blocked.message_type == "bot_blocked" and blocked.external_id == "update:10004"
    unblocked = one(p.my_chat_member(10007, old="kicked", new="member"))
    assert isinstance(unblocked, MessageEvent) and unblocked.message_type == "bot_unblocked"


def test_reactions_are_updates_of_the_message() -> None:
    added = one(p.reaction())
    assert isinstance(added, UpdateEvent) and added.kind == EventKind.REACTED
    assert (added.target, added.event_id) == ("1111111:1365", "reaction:10009")
    assert added.data["emoji"] == ["\U0001F44D"]
    removed = one(p.reaction(10010, new=[]))
    assert isinstance(removed, UpdateEvent) and removed.kind == EventKind.UNREACTED


@pytest.mark.parametrize("value", [p.channel_post(), p.inline_query(), p.of("poll")],
                         ids=["channel_post", "inline_query", "poll"])
def test_other_updates_are_unsupported_never_errors(value: dict[str, object]) -> None:
    event = one(value)
    assert isinstance(event, MessageEvent) and event.kind == Kind.UNSUPPORTED


def test_channel_post_is_attributed_to_the_channel() -> None:
    event = one(p.channel_post())
    assert isinstance(event, MessageEvent)
    assert [str(a) for a in event.contact] == ["telegram:-1001234567890"]
    assert event.message_type == "channel_post"


def test_an_update_naming_nobody_yields_no_event() -> None:
    assert TG.parse(p.body(p.update(10008, poll={"id": "5345", "question": "?"})), {}) == []


@pytest.mark.parametrize("body", [
    b"nope", b"[]", b"{}", b'{"update_id": "x", "message": {}}', b'{"update_id": 1}',
    b'{"update_id": 1, "message": {"chat": {"id": 1}, "date": 1}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 1}}',
    b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}, "date": 1,'
    b' "location": {"latitude": 91, "longitude": 0}}}',
    b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}, "date": 1,'
    b' "photo": [{"width": 1}]}}',
])
def test_malformed_updates_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        TG.parse(body, {})
    assert info.value.channel == "telegram"


def test_secret_token_header() -> None:
    body = p.body(p.of("text"))
    TG.verify(body, {"x-telegram-bot-api-secret-token": p.SECRET})
    TG.verify(body, TG.sign(body))
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    {"X-Telegram-Bot-Api-Secret-Token": ""}):
        with pytest.raises(SignatureError):
            TG.verify(body, headers)


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        Telegram(bot_token=p.BOT_TOKEN, secret_token="")  # an empty secret accepts anyone
    with pytest.raises(ConfigurationError):
        Telegram(bot_token=p.BOT_TOKEN, secret_token="has spaces")
    with pytest.raises(ConfigurationError):
        Telegram(bot_token="not-a-token")
    with pytest.raises(ConfigurationError):
        Telegram()
    with pytest.raises(ConfigurationError):  # receiving needs the secret
        Telegram(bot_token=p.BOT_TOKEN).verify(b"{}", {})
    assert Telegram(bot_id="123456", secret_token=p.SECRET).account == "123456"
    assert "ABC-DEF" not in repr(TG) and p.SECRET not in repr(TG)


def test_shape_errors_name_the_field_not_the_value() -> None:
    """Quarantine keeps error texts in the clear: they must not copy personal data."""
    value = p.of("text")
    value["message"]["message_id"] = "Anna Muster, +41 79 123 45 67"
    with pytest.raises(PayloadError) as info:
        TG.parse(p.body(value), {})
    assert "message.message_id" in str(info.value) and "Anna" not in str(info.value)
    value = p.of("text")
    value["message"]["from"]["id"] = {"name": "Anna Muster"}
    with pytest.raises(PayloadError) as info:
        TG.parse(p.body(value), {})
    assert "Anna" not in str(info.value)


def test_fixtures_are_updates_python_telegram_bot_accepts() -> None:
    """python-telegram-bot builds its objects from the Bot API reference and refuses
    updates missing a required field: our fixtures must pass it (when installed)."""
    telegram = pytest.importorskip("telegram", reason="the bench extra is not installed")
    for value in p.every_type():
        update = telegram.Update.de_json(value, None)
        assert update.update_id == value["update_id"]
