"""WhatsApp webhook parsing: every documented message type, batching, identity, statuses."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import whatsapp_payloads as p
from hypothesis import given
from hypothesis import strategies as st

from omnicx import (
    Address,
    Direction,
    EventKind,
    Kind,
    MessageEvent,
    PayloadError,
    Status,
    UpdateEvent,
)
from omnicx.channels import WhatsApp
from omnicx.typing import ChannelAdapter, Sender

PHONE = Address(kind="phone", value="+16505551234")
BSUID = Address(kind="whatsapp", value=p.BSUID)
WA = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret="secret")
WHEN = dt.datetime(2025, 4, 11, 4, 8, 16, tzinfo=dt.UTC)


def parse(document: dict[str, object]) -> list[MessageEvent | UpdateEvent]:
    return list(WA.parse(p.dumps(document), {}))


def one_message(kind: str, **kwargs: object) -> MessageEvent:
    (event,) = parse(p.inbound(p.message(kind, **kwargs)))  # type: ignore[arg-type]
    assert isinstance(event, MessageEvent)
    return event


def one_update(kind: str) -> UpdateEvent:
    (event,) = parse(p.inbound(p.message(kind, 7)))
    assert isinstance(event, UpdateEvent)
    return event


def test_implements_the_adapter_and_sender_protocols() -> None:
    assert isinstance(WA, ChannelAdapter)
    assert isinstance(WA, Sender)
    assert WA.account == p.PHONE_NUMBER_ID
    assert WA.channel == "whatsapp"


def test_text_message() -> None:
    event = one_message("text")
    assert event.external_id == p.wamid(1)
    assert event.account == p.PHONE_NUMBER_ID
    assert event.direction is Direction.INBOUND
    assert event.kind is Kind.MESSAGE
    assert event.message_type == "text"
    assert event.text == "Does it come in another color?"
    assert event.occurred_at == WHEN
    assert event.contact == (PHONE,)
    assert event.contact_name == p.NAME
    assert event.sender == PHONE
    assert event.recipients == (Address(kind="phone", value="+15550783881"),)
    assert event.thread_key == f"wa:{p.PHONE_NUMBER_ID}"
    assert event.reply_to is None


@pytest.mark.parametrize(
    ("kind", "mime", "caption", "filename"),
    [
        ("image", "image/jpeg", "This is what I bought", None),
        ("audio", "audio/ogg; codecs=opus", None, None),
        ("video", "video/mp4", "Unboxing", None),
        ("document", "application/pdf", "Invoice", "invoice-2291.pdf"),
        ("sticker", "image/webp", None, None),
    ],
)
def test_media_messages(kind: str, mime: str, caption: str | None, filename: str | None) -> None:
    event = one_message(kind)
    assert event.message_type == kind
    assert event.text == caption
    (attachment,) = event.attachments
    assert attachment.content_type == mime
    assert attachment.filename == filename
    assert attachment.ref == p.MESSAGES[kind][kind]["id"]
    assert attachment.sha256 is not None and len(attachment.sha256) == 64


def test_media_hash_from_base64_is_hex() -> None:
    attachment = one_message("image").attachments[0]
    raw = base64.b64decode(p.MESSAGES["image"]["image"]["sha256"])
    assert attachment.sha256 == raw.hex()


def test_voice_note_is_flagged() -> None:
    assert one_message("audio").data["media"]["voice"] is True


def test_location() -> None:
    event = one_message("location")
    assert event.text == "Main Office, 1 Hacker Way, Menlo Park, CA 94025"
    assert event.data["location"]["latitude"] == 37.483307


def test_contacts() -> None:
    event = one_message("contacts")
    assert event.text == "Barbara J. Johnson"
    assert event.data["contacts"][0]["phones"][0]["wa_id"] == "16505551234"


@pytest.mark.parametrize(
    ("kind", "reply_type", "text", "reply_id"),
    [
        ("interactive_button", "button_reply", "Cancel", "cancel-button"),
        ("interactive_list", "list_reply", "Priority Mail Express", "priority_express"),
    ],
)
def test_interactive_replies(kind: str, reply_type: str, text: str, reply_id: str) -> None:
    event = one_message(kind)
    assert event.message_type == "interactive"
    assert event.text == text
    assert event.data["interactive"]["type"] == reply_type
    assert event.data["interactive"]["id"] == reply_id
    assert event.reply_to == p.BIZ_WAMID


def test_flow_reply_decodes_response_json() -> None:
    event = one_message("interactive_flow")
    assert event.data["interactive"]["type"] == "nfm_reply"
    assert event.data["interactive"]["response"]["appointment_date"] == "2026-11-30"
    assert event.text == "Sent"


def test_flow_reply_with_broken_json_keeps_the_string() -> None:
    message = p.message("interactive_flow")
    message["interactive"]["nfm_reply"]["response_json"] = "{not json"
    (event,) = parse(p.inbound(message))
    assert isinstance(event, MessageEvent)
    assert event.data["interactive"]["response"] == "{not json"


def test_template_quick_reply_button() -> None:
    event = one_message("button")
    assert event.text == "Unsubscribe from Promos"
    assert event.data["button"]["payload"] == "Unsubscribe from Promos"
    assert event.reply_to == p.BIZ_WAMID


def test_order() -> None:
    event = one_message("order")
    assert event.text == "Please deliver before Friday"
    assert event.data["order"]["product_items"][0]["quantity"] == 2


def test_system_number_change_links_the_new_number() -> None:
    event = one_message("system")
    assert event.kind is Kind.SYSTEM
    assert event.contact == (PHONE, Address(kind="phone", value="+16505559999"))


def test_unsupported_keeps_its_data_and_errors() -> None:
    event = one_message("unsupported")
    assert event.kind is Kind.UNSUPPORTED
    assert event.data["unsupported"] == {"type": "poll"}
    assert event.data["errors"][0]["code"] == 131051


def test_unknown_type_is_unsupported_not_an_exception() -> None:
    event = one_message("future_type")
    assert event.kind is Kind.UNSUPPORTED
    assert event.message_type == "hologram"
    assert event.data["raw"]["hologram"] == {"id": "99", "depth": 3}


def test_referral_from_an_ad() -> None:
    event = one_message("referral")
    assert event.data["referral"]["source_type"] == "ad"
    assert event.data["referral"]["ctwa_clid"].startswith("ARAk")


def test_reply_context() -> None:
    event = one_message("reply")
    assert event.reply_to == p.BIZ_WAMID
    assert event.data["context"]["from"] == p.DISPLAY_PHONE


def test_forwarded_flags() -> None:
    event = one_message("forwarded")
    assert event.reply_to is None
    assert event.data["context"] == {"forwarded": True, "frequently_forwarded": True}


def test_reaction_is_an_event_on_the_original() -> None:
    event = one_update("reaction")
    assert event.kind is EventKind.REACTED
    assert event.target == p.BIZ_WAMID
    assert event.event_id == p.wamid(7)
    assert event.data == {"emoji": "\U0001f600"}
    assert event.contact == (PHONE,)


def test_reaction_removal() -> None:
    event = one_update("reaction_removed")
    assert event.kind is EventKind.UNREACTED
    assert event.target == p.BIZ_WAMID


def test_edit_is_an_event_carrying_the_new_content() -> None:
    event = one_update("edit")
    assert event.kind is EventKind.EDITED
    assert event.target == p.wamid(1)
    assert event.event_id == p.wamid(7)
    assert event.data["text"] == "Does it come in another colour?"
    assert event.occurred_at == WHEN


def test_revoke_is_an_event() -> None:
    event = one_update("revoke")
    assert event.kind is EventKind.REVOKED
    assert event.target == p.wamid(1)


def test_every_message_in_every_change_and_entry_is_parsed() -> None:
    document = p.inbound(p.message("text", 1), p.message("image", 2), p.message("reaction", 3))
    second = p.inbound(p.message("text", 4), phone_number_id="999999999")
    document["entry"][0]["changes"].append(second["entry"][0]["changes"][0])
    document["entry"].append(p.inbound(p.message("location", 5))["entry"][0])
    events = parse(document)
    assert [getattr(e, "external_id", None) or e.event_id for e in events] == [  # type: ignore[union-attr]
        p.wamid(1), p.wamid(2), p.wamid(3), p.wamid(4), p.wamid(5)
    ]
    assert [e.account for e in events] == [p.PHONE_NUMBER_ID] * 3 + ["999999999", p.PHONE_NUMBER_ID]


def test_every_type_in_one_batch() -> None:
    events = parse(p.every_type())
    assert len(events) == len(p.MESSAGES) + 5
    updates = {"reaction", "reaction_removed", "edit", "revoke"}
    assert sum(isinstance(e, MessageEvent) for e in events) == len(p.MESSAGES) - len(updates)


def test_contacts_are_matched_to_their_messages_in_a_batch() -> None:
    other = "447700900123"
    document = p.inbound(
        p.message("text", 1, sender=other),
        p.message("text", 2),
        contacts=[p.contact(), p.contact(wa_id=other, name="Ada")],
    )
    first, second = parse(document)
    assert isinstance(first, MessageEvent) and isinstance(second, MessageEvent)
    assert first.contact_name == "Ada"
    assert first.contact == (Address(kind="phone", value="+447700900123"),)
    assert second.contact_name == p.NAME


# -- identity: business-scoped user ids ---------------------------------------------


def test_bsuid_and_phone_are_both_addresses_bsuid_first() -> None:
    document = p.inbound(
        p.message("text", user_id=p.BSUID),
        contacts=[p.contact(user_id=p.BSUID, parent=p.PARENT_BSUID, username="@sheena")],
    )
    (event,) = parse(document)
    assert isinstance(event, MessageEvent)
    assert event.contact == (BSUID, Address(kind="whatsapp", value=p.PARENT_BSUID), PHONE)
    assert event.sender == BSUID
    assert event.data["username"] == "@sheena"


def test_bsuid_only_when_the_user_hides_the_phone() -> None:
    document = p.inbound(
        p.message("text", sender=None, user_id=p.BSUID),
        contacts=[p.contact(wa_id=None, user_id=p.BSUID, username="@sheena")],
    )
    (event,) = parse(document)
    assert isinstance(event, MessageEvent)
    assert event.contact == (BSUID,)


def test_bsuid_from_contacts_when_the_message_lacks_it() -> None:
    document = p.inbound(p.message("text"), contacts=[p.contact(user_id=p.BSUID)])
    (event,) = parse(document)
    assert event.contact == (BSUID, PHONE)


def test_phone_only_old_style() -> None:
    assert one_message("text").contact == (PHONE,)


def test_message_without_any_identity_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="neither a phone number nor a user id"):
        parse(p.inbound(p.message("text", sender=None), contacts=[]))


def test_bad_phone_with_a_bsuid_keeps_the_bsuid() -> None:
    document = p.inbound(
        p.message("text", sender="12", user_id=p.BSUID), contacts=[p.contact(wa_id=None)]
    )
    (event,) = parse(document)
    assert event.contact == (BSUID,)
    assert isinstance(event, MessageEvent)
    assert event.data["invalid_phone"] == "12"


# -- statuses -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sent", "delivered", "read", "played"])
def test_status(name: str) -> None:
    (event,) = parse(p.statuses(p.status(name)))
    assert isinstance(event, UpdateEvent)
    assert event.kind is EventKind.STATUS
    assert event.status == Status(name)
    assert event.event_id == f"status:{name}"
    assert event.target == p.BIZ_WAMID
    assert event.error is None
    assert event.contact == (PHONE,)
    assert event.occurred_at == WHEN


def test_sent_status_keeps_pricing_and_conversation() -> None:
    (event,) = parse(p.statuses(p.status("sent")))
    assert event.data["pricing"]["category"] == "utility"
    assert event.data["conversation"]["origin"]["type"] == "utility"


def test_failed_status_carries_the_error() -> None:
    (event,) = parse(p.statuses(p.status("failed")))
    assert isinstance(event, UpdateEvent)
    assert event.status is Status.FAILED
    assert event.error == "131026 Message undeliverable"
    assert event.data["errors"][0]["error_data"]["details"] == "Message Undeliverable."


def test_failed_status_without_contacts_or_recipient() -> None:
    item = p.status("failed", recipient=None)
    (event,) = parse(p.statuses(item))
    assert isinstance(event, UpdateEvent)
    assert event.contact == ()


def test_status_with_bsuid_recipient() -> None:
    item = p.status("delivered", user_id=p.BSUID)
    (event,) = parse(p.statuses(item, contacts=[p.contact(user_id=p.BSUID)]))
    assert event.contact == (BSUID, PHONE)


def test_unknown_status_is_kept() -> None:
    (event,) = parse(p.statuses(p.status("deleted")))
    assert isinstance(event, UpdateEvent)
    assert event.status == "deleted"
    assert event.event_id == "status:deleted"


def test_batched_statuses_all_parsed() -> None:
    items = [p.status(s, p.wamid(i)) for i, s in enumerate(["read", "sent", "delivered"])]
    events = parse(p.statuses(*items))
    assert [e.status for e in events] == ["read", "sent", "delivered"]  # type: ignore[union-attr]


def test_group_status_has_no_contact() -> None:
    item = p.status("delivered")
    item["recipient_type"] = "group"
    item["recipient_id"] = "120363025246125486"
    (event,) = parse(p.statuses(item))
    assert event.contact == ()
    assert event.data["group_id"] == "120363025246125486"


# -- business app echoes ----------------------------------------------------------------


def test_smb_message_echo_is_outbound() -> None:
    (event,) = parse(p.echoes(p.echo()))
    assert isinstance(event, MessageEvent)
    assert event.direction is Direction.OUTBOUND
    assert event.contact == (PHONE,)
    assert event.recipients == (PHONE,)
    assert event.sender == Address(kind="phone", value="+15550783881")
    assert event.text == "Your order shipped today"
    assert event.status is Status.SENT
    assert event.thread_key == f"wa:{p.PHONE_NUMBER_ID}"


def test_smb_echo_batch() -> None:
    events = parse(p.echoes(p.echo(1), p.echo(2), p.echo(3)))
    assert [e.external_id for e in events] == [  # type: ignore[union-attr]
        "wamid.ECHO000001", "wamid.ECHO000002", "wamid.ECHO000003"
    ]


# -- what is not an interaction, and what is malformed -----------------------------------


def test_other_fields_yield_nothing() -> None:
    document = p.envelope({"event": "APPROVED", "message_template_id": 1},
                          field="message_template_status_update")
    assert parse(document) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [1]}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_bodies_raise_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        WA.parse(body, {})
    assert info.value.channel == "whatsapp"


def test_message_without_id_is_a_payload_error() -> None:
    message = p.message("text")
    del message["id"]
    with pytest.raises(PayloadError, match="id is required"):
        parse(p.inbound(message))


def test_text_of_the_wrong_shape_is_a_payload_error() -> None:
    message = p.message("text")
    message["text"] = "just a string"
    with pytest.raises(PayloadError, match="text"):
        parse(p.inbound(message))


def test_numeric_ids_and_timestamps_are_accepted() -> None:
    message = p.message("text")
    message["timestamp"] = int(p.TS)
    message["from"] = int(p.WA_ID)
    document = p.inbound(message, contacts=[])
    (event,) = WA.parse(json.dumps(document).encode(), {})
    assert event.occurred_at == WHEN
    assert event.contact == (PHONE,)


def test_smb_echo_of_an_edit_is_an_event_on_the_business_message() -> None:
    edit = {"from": p.DISPLAY_PHONE, "to": p.WA_ID, "id": "wamid.ECHOEDIT", "timestamp": p.TS,
            "type": "edit", "edit": {"original_message_id": "wamid.ECHO000001",
                                     "message": {"type": "text", "text": {"body": "Fixed"}}}}
    (event,) = parse(p.echoes(edit))
    assert isinstance(event, UpdateEvent)
    assert (event.kind, event.target, event.event_id) == (
        EventKind.EDITED, "wamid.ECHO000001", "wamid.ECHOEDIT")
    assert event.contact == (PHONE,)
    assert event.data["text"] == "Fixed"


def test_value_level_errors_are_kept_on_the_message() -> None:
    document = p.inbound(p.message("unsupported"))
    value = document["entry"][0]["changes"][0]["value"]
    value["errors"] = [{"code": 131051, "title": "Unsupported message type"}]
    del value["messages"][0]["errors"]
    (event,) = parse(document)
    assert event.data["errors"][0]["code"] == 131051


def test_a_user_id_where_the_phone_was_expected_is_a_user_id() -> None:
    (event,) = parse(p.inbound(p.message("text", sender=p.BSUID), contacts=[]))
    assert event.contact == (BSUID,)
    (status,) = parse(p.statuses(p.status("read", recipient=p.PARENT_BSUID)))
    assert status.contact == (Address(kind="whatsapp", value=p.PARENT_BSUID),)


def test_failed_status_with_value_level_errors() -> None:
    item = p.status("failed")
    errors = item.pop("errors")
    document = p.statuses(item)
    document["entry"][0]["changes"][0]["value"]["errors"] = errors
    (event,) = parse(document)
    assert isinstance(event, UpdateEvent)
    assert event.error == "131026 Message undeliverable"


UNRENDERED_ERRORS = [
    # Meta's unsupported-message webhook reference: 131051 and 131060.
    {"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
     "error_data": {"details": "Message type is currently not supported."}},
    {"code": 131060, "title": "This message is currently unavailable.",
     "message": "This message is currently unavailable.",
     "error_data": {"details": "This message is currently unavailable."}},
]


@pytest.mark.parametrize("error", UNRENDERED_ERRORS, ids=["131051", "131060"])
@pytest.mark.parametrize("msg_type", ["image", "text", "reaction", "edit", "location",
                                      "interactive", "contacts", "system", "unknown"])
def test_a_message_meta_could_not_render_is_an_unsupported_interaction(
        msg_type: str, error: dict[str, object]) -> None:
    msg = {"from": p.WA_ID, "id": p.wamid(41), "timestamp": p.TS, "type": msg_type,
           "errors": [error]}
    events = parse(p.inbound(msg))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MessageEvent)
    assert event.kind is Kind.UNSUPPORTED
    assert event.message_type == msg_type
    assert event.external_id == p.wamid(41)
    assert event.data["errors"] == [error]
    assert event.data["unrendered_type"] == msg_type
    assert event.contact[0] == PHONE


def test_value_level_errors_make_a_missing_object_unsupported() -> None:
    document = p.inbound({"from": p.WA_ID, "id": p.wamid(42), "timestamp": p.TS,
                          "type": "image"})
    document["entry"][0]["changes"][0]["value"]["errors"] = UNRENDERED_ERRORS[:1]
    (event,) = parse(document)
    assert isinstance(event, MessageEvent)
    assert event.kind is Kind.UNSUPPORTED
    assert event.data["errors"][0]["code"] == 131051


def test_a_missing_object_without_errors_is_still_malformed() -> None:
    document = p.inbound({"from": p.WA_ID, "id": p.wamid(43), "timestamp": p.TS,
                          "type": "image"})
    with pytest.raises(PayloadError):
        parse(document)


@given(st.sampled_from(sorted(p.MESSAGES)), st.sampled_from(UNRENDERED_ERRORS),
       st.booleans())
def test_any_message_whose_object_is_withheld_is_kept_as_unsupported(
        kind: str, error: dict[str, object], value_level: bool) -> None:
    msg = p.message(kind, 44)
    msg_type = msg["type"]
    msg.pop(msg_type, None)
    msg.pop("errors", None)
    document = p.inbound(msg)
    if value_level:
        document["entry"][0]["changes"][0]["value"]["errors"] = [error]
    else:
        msg["errors"] = [error]
    (event,) = parse(document)
    assert isinstance(event, MessageEvent)
    assert event.kind is Kind.UNSUPPORTED
    assert event.message_type == msg_type
    assert event.data["errors"] == [error]
