"""Messenger and Instagram webhook parsing, signatures and the handshake, from Meta's examples."""

from __future__ import annotations

import datetime as dt
import json

import messaging_payloads as p
import pytest

from omnicx import (
    ConfigurationError,
    EventKind,
    Kind,
    MessageEvent,
    PayloadError,
    SignatureError,
    Status,
    UpdateEvent,
    WatermarkEvent,
)
from omnicx.channels import Instagram, Messenger

MESSENGER = Messenger(page_id=p.PAGE_ID, app_secret="app-secret", verify_token="vt")
INSTAGRAM = Instagram(instagram_id=p.IG_ID, app_secret="app-secret")


def parse(*items: dict[str, object]) -> list[object]:
    return list(MESSENGER.parse(p.body(*items), {}))


def test_text_message_with_quick_reply() -> None:
    (event,) = parse(p.text())
    assert isinstance(event, MessageEvent)
    assert (event.channel, event.account, event.external_id) == ("messenger", p.PAGE_ID, p.MID)
    assert event.direction == "inbound" and event.kind == Kind.MESSAGE
    assert [str(a) for a in event.contact] == [f"messenger:{p.PSID}"]
    assert event.text == "hello, world!" and event.message_type == "text"
    assert event.occurred_at == dt.datetime(2016, 3, 23, 0, 25, 52, 478000, tzinfo=dt.UTC)
    assert event.data["quick_reply"] == {"payload": "<DEVELOPER_DEFINED_PAYLOAD>"}
    assert event.thread_key == f"messenger:{p.PAGE_ID}"


def test_reply_threads_to_its_parent() -> None:
    (event,) = parse(p.reply())
    assert isinstance(event, MessageEvent) and event.reply_to == p.REPLY_MID


def test_attachments_keep_their_urls_and_types() -> None:
    (event,) = parse(p.attachments())
    assert isinstance(event, MessageEvent)
    assert event.message_type == "image"
    assert [(a.content_type, a.filename) for a in event.attachments] == [
        ("image/*", "photo.jpg"), ("video/*", "clip.mp4"), ("audio/*", "audioclip.mp4"),
        ("application/octet-stream", "invoice.pdf")]
    assert event.attachments[0].ref == "https://scontent.xx.fbcdn.net/v/photo.jpg?x=1"


def test_location_fallback_and_template_are_kept_as_data() -> None:
    location, fallback, template = parse(p.location(), p.fallback(), p.template_echo())
    assert isinstance(location, MessageEvent) and location.message_type == "location"
    assert location.data["location"][0]["payload"]["coordinates"] == {"lat": 47.3769,
                                                                     "long": 8.5417}
    assert location.data["location"][0]["title"] == "Pinned Location"
    assert isinstance(fallback, MessageEvent)
    assert fallback.data["fallback"][0]["payload"]["title"] == "Product page"
    assert isinstance(template, MessageEvent) and template.direction == "outbound"
    assert template.data["template"][0]["payload"]["template_type"] == "button"


def test_echo_is_an_outbound_interaction_to_the_customer() -> None:
    (event,) = parse(p.echo())
    assert isinstance(event, MessageEvent)
    assert event.direction == "outbound" and event.status == Status.SENT
    assert [a.value for a in event.contact] == [p.PSID]
    assert event.sender is not None and event.sender.value == p.PAGE_ID
    assert event.data["app_id"] == 1517776481860111


def test_echo_of_omnicx_own_send_is_a_status_of_it() -> None:
    item = p.echo()
    item["message"]["metadata"] = "omnicx:6f1c"
    (event,) = parse(item)
    assert isinstance(event, UpdateEvent) and event.status == Status.SENT
    assert (event.target, event.event_id, event.data) == ("mid.echo1", "echo",
                                                          {"client_id": "omnicx:6f1c"})


def test_edit_reaction_and_unreact_are_updates_of_the_message() -> None:
    edit, react, unreact = parse(p.edit(), p.reaction(), p.reaction(action="unreact"))
    assert isinstance(edit, UpdateEvent) and edit.kind == EventKind.EDITED
    assert (edit.target, edit.event_id, edit.data["text"]) == (p.MID, "edit:1",
                                                               "hello, edited world")
    assert isinstance(react, UpdateEvent) and react.kind == EventKind.REACTED
    assert react.data == {"reaction": "love", "emoji": "\u2764\ufe0f"}
    assert isinstance(unreact, UpdateEvent) and unreact.kind == EventKind.UNREACTED
    assert react.event_id != unreact.event_id


def test_postback_and_referral_are_inbound_interactions() -> None:
    postback, referral = parse(p.postback(), p.referral())
    assert isinstance(postback, MessageEvent)
    assert (postback.external_id, postback.message_type, postback.text) == (
        "m_postback1", "postback", "Get Started")
    assert postback.data["payload"] == "GET_STARTED"
    # The documented postback timestamp is in seconds, as a string elsewhere: both parse.
    assert postback.occurred_at == dt.datetime(2018, 5, 27, 22, 23, 44, tzinfo=dt.UTC)
    assert isinstance(referral, MessageEvent) and referral.kind == Kind.SYSTEM
    assert referral.data["referral"]["ad_id"] == "6045246247433"


def test_delivery_is_per_message_statuses_and_a_watermark() -> None:
    status, mark = parse(p.delivery([p.DELIVERED_MID]))
    assert isinstance(status, UpdateEvent) and status.status == Status.DELIVERED
    assert status.target == p.DELIVERED_MID
    assert isinstance(mark, WatermarkEvent) and mark.status == Status.DELIVERED
    assert mark.up_to == dt.datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=dt.UTC)
    (only_mark,) = parse(p.delivery(None))  # mids "may not be present"
    assert isinstance(only_mark, WatermarkEvent)


def test_read_is_a_watermark() -> None:
    (mark,) = parse(p.read())
    assert isinstance(mark, WatermarkEvent) and mark.status == Status.READ
    assert [a.value for a in mark.contact] == [p.PSID]


def test_unknown_item_is_unsupported_with_the_item_kept() -> None:
    (event,) = parse(p.optin())
    assert isinstance(event, MessageEvent) and event.kind == Kind.UNSUPPORTED
    assert event.message_type == "optin"
    assert event.data["item"]["optin"]["type"] == "notification_messages"


def test_dashboard_test_notifications_in_changes_are_read() -> None:
    body = json.dumps({"object": "page", "entry": [{"id": p.PAGE_ID, "time": 1, "changes": [
        {"field": "messaging_postbacks", "value": p.postback()},
        {"field": "feed", "value": {"item": "status", "verb": "add"}}]}]}).encode()
    (event,) = MESSENGER.parse(body, {})
    assert isinstance(event, MessageEvent) and event.message_type == "postback"


def test_instagram_items() -> None:
    events = list(INSTAGRAM.parse(p.ig_body(*p.every_instagram_type()), {}))
    text, echo, story, deleted, unsupported, seen, mark = events
    assert isinstance(text, MessageEvent) and text.channel == "instagram"
    assert [str(a) for a in text.contact] == [f"instagram:{p.IGSID}"]
    assert isinstance(echo, MessageEvent) and echo.direction == "outbound"
    assert [a.value for a in echo.contact] == [p.IGSID]
    assert isinstance(story, MessageEvent) and story.reply_to is None
    assert story.data["reply_to"]["story"]["id"] == "1797"
    assert isinstance(deleted, UpdateEvent) and deleted.kind == EventKind.REVOKED
    assert isinstance(unsupported, MessageEvent) and unsupported.kind == Kind.UNSUPPORTED
    assert isinstance(seen, UpdateEvent) and seen.status == Status.READ
    assert isinstance(mark, WatermarkEvent) and mark.through == seen.target


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"object": "page"}', b'{"object": "instagram", "entry": []}',
    b'{"object": "page", "entry": [{"messaging": [{"message": {"mid": "m"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "1"},'
    b' "message": {"text": "no mid"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "1"},'
    b' "timestamp": "yesterday", "message": {"mid": "m"}}]}]}',
    b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "1"},'
    b' "read": {}}]}]}',
])
def test_malformed_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        MESSENGER.parse(body, {})
    assert info.value.channel == "messenger"


def test_signature_is_checked_in_constant_time_and_required() -> None:
    body = p.body(p.text())
    MESSENGER.verify(body, MESSENGER.sign(body))
    with pytest.raises(SignatureError):
        MESSENGER.verify(body + b" ", MESSENGER.sign(body))
    with pytest.raises(SignatureError):
        MESSENGER.verify(body, {})
    with pytest.raises(SignatureError):
        INSTAGRAM.verify(body, MESSENGER.sign(body[:-1]))
    with pytest.raises(ConfigurationError):
        Messenger(page_id=p.PAGE_ID).verify(body, MESSENGER.sign(body))


def test_signature_matches_an_independent_hmac() -> None:
    import hashlib
    import hmac

    body = p.body(p.text())
    expected = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    MESSENGER.verify(body, {"x-hub-signature-256": expected})


def test_handshake() -> None:
    ok = MESSENGER.handshake({"hub.mode": "subscribe", "hub.verify_token": "vt",
                              "hub.challenge": "1158201444"})
    assert ok == (200, "1158201444")
    assert MESSENGER.handshake({"hub.mode": "subscribe", "hub.verify_token": "no",
                                "hub.challenge": "1"}).status == 403
    assert INSTAGRAM.handshake({"hub.mode": "subscribe", "hub.verify_token": "vt",
                                "hub.challenge": "1"}).status == 403  # no token configured


def test_a_page_sent_message_without_the_echo_flag_is_outbound() -> None:
    item = p.echo()
    del item["message"]["is_echo"]
    (event,) = parse(item)
    assert isinstance(event, MessageEvent) and event.direction == "outbound"
    assert [a.value for a in event.contact] == [p.PSID]
