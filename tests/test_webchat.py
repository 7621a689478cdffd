"""The WebChat adapter: parsing, signatures, and malformed input."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import Direction, EventKind, Kind, MessageEvent, Status, UpdateEvent
from omnicx.channels import WebChat
from webchat_payloads import CHANNEL, message, signed, status


def parse(*events: dict[str, Any]) -> list[Any]:
    body, headers = signed(*events)
    CHANNEL.verify(body, headers)
    return list(CHANNEL.parse(body, headers))


def test_visitor_message_links_every_address_of_the_visitor() -> None:
    visitor = {"id": "v9", "email": "Anna@Example.com", "phone": "+41 79 123 45 67",
               "name": "Anna"}
    (event,) = parse(message("m1", 0, visitor=visitor, attachments=[
        {"filename": "receipt.pdf", "content_type": "application/pdf", "size": 1234,
         "sha256": "ab" * 32, "url": "https://cdn.example/r.pdf"}]))
    assert isinstance(event, MessageEvent)
    assert event.direction is Direction.INBOUND
    assert [str(a) for a in event.contact] == [
        "email:anna@example.com", "phone:+41791234567", "webchat:shop/v9"]
    assert event.contact_name == "Anna"
    assert event.thread_key == "session:S"
    assert event.attachments[0].filename == "receipt.pdf"
    assert event.attachments[0].size == 1234
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None


def test_agent_message_is_outbound_to_the_visitor() -> None:
    (event,) = parse(message("m2", 1, sender="agent", agent={"id": "a1", "name": "Bob"},
                             reply_to="m1"))
    assert event.direction is Direction.OUTBOUND
    assert event.sender.name == "Bob"
    assert event.recipients == (event.contact[0],)
    assert event.reply_to == "m1"
    assert event.status is Status.SENT


def test_sessions_statuses_edits_and_unknown_types() -> None:
    events = parse(
        {"type": "session.started", "id": "s1", "session": "S", "at": 0,
         "visitor": {"id": "v1"}},
        status("r1", "m2", 2),
        {"type": "message.edited", "id": "e1", "message": "m1", "at": 1_763_000_000,
         "text": "hello again"},
        {"type": "cobrowse.started", "id": "x1", "session": "S", "visitor": {"id": "v1"}},
    )
    session, read, edit, unknown = events
    assert session.kind is Kind.SESSION
    assert isinstance(read, UpdateEvent) and read.status is Status.READ
    assert read.kind is EventKind.STATUS and read.target == "m2"
    assert edit.kind is EventKind.EDITED and edit.data == {"text": "hello again"}
    assert unknown.kind is Kind.UNSUPPORTED
    assert unknown.data["raw"]["type"] == "cobrowse.started"


def test_national_phone_numbers_use_the_configured_region() -> None:
    chat = WebChat(secret="s", site="shop", default_region="CH")
    body, headers = signed(message("m1", 0, visitor={"id": "v", "phone": "079 123 45 67"}),
                           channel=chat)
    (event,) = chat.parse(body, headers)
    assert str(event.contact[0]) == "phone:+41791234567"


@pytest.mark.parametrize("headers", [
    {}, {"X-Omnicx-Signature": "sha256=00"}, {"X-Omnicx-Signature": "md5=abc"},
    {"x-omnicx-signature": "sha256=" + "0" * 64},
])
def test_forged_or_unsigned_requests_are_refused(headers: dict[str, str]) -> None:
    body, _ = signed(message("m1", 0))
    with pytest.raises(omnicx.SignatureError):
        CHANNEL.verify(body, headers)


def test_signature_header_is_case_insensitive() -> None:
    body, headers = signed(message("m1", 0))
    CHANNEL.verify(body, {k.lower(): v for k, v in headers.items()})


@pytest.mark.parametrize("document", [
    b"not json", b"[]", b'{"site": "shop"}', b'{"site": "other", "events": []}',
    b'{"events": [42]}', b'{"events": [{"type": "message"}]}',
    b'{"events": [{"type": "message", "id": "m", "from": "robot", "visitor": {"id": 1}}]}',
    b'{"events": [{"type": "message", "id": "m", "from": "visitor", "visitor": {}}]}',
    b'{"events": [{"type": "message", "id": "m", "from": "visitor", "visitor": {"id": 1},'
    b' "at": "yesterday"}]}',
    b'{"events": [{"type": "message", "id": "m", "from": "visitor", "visitor": {"id": 1},'
    b' "attachments": [{"size": -1}]}]}',
])
def test_malformed_payloads_raise_payload_error(document: bytes) -> None:
    with pytest.raises(omnicx.PayloadError) as info:
        CHANNEL.parse(document, {})
    assert info.value.channel == "webchat"


# -- property-based: mutations of valid payloads never raise anything but omnicx errors ----

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
FIELDS = ["type", "id", "session", "at", "from", "visitor", "text", "reply_to", "attachments",
          "message", "agent", "seq"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=json_values, drop=st.booleans())
def test_mutated_events_only_ever_raise_payload_error(field: str, value: Any,
                                                      drop: bool) -> None:
    event = message("m1", 0, attachments=[{"filename": "a.png"}], reply_to="m0")
    if drop:
        event.pop(field, None)
    else:
        event[field] = value
    body = json.dumps({"site": "shop", "events": [event]}).encode()
    with contextlib.suppress(omnicx.PayloadError):
        CHANNEL.parse(body, {})


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_payload_error(body: bytes) -> None:
    with contextlib.suppress(omnicx.PayloadError):
        CHANNEL.parse(body, {})


def test_absurdly_nested_json_is_a_payload_error() -> None:
    with pytest.raises(omnicx.PayloadError):
        CHANNEL.parse(b"[" * 100_000 + b"]" * 100_000, {})
