"""Property-based tests: mutated valid payloads never raise anything but omnicx errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import whatsapp_payloads as p
from _mutation import json_values as shared_json_values
from _mutation import mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicx import MessageEvent, OmnicxError, PayloadError, UpdateEvent
from omnicx.channels import WhatsApp, _common

WA = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret="secret")


@contextlib.contextmanager
def stdlib_json() -> Iterator[None]:
    """Decode with the json module even when orjson (the `fast` extra) is installed."""
    saved = _common.orjson
    _common.orjson = None  # type: ignore[assignment]
    try:
        yield
    finally:
        _common.orjson = saved


def parse_both(body: bytes) -> None:
    """Parse with both decoders: each returns sound events or raises PayloadError."""
    for decoder in (contextlib.nullcontext, stdlib_json):
        with decoder():
            try:
                events = WA.parse(body, {})
            except OmnicxError as exc:
                assert isinstance(exc, PayloadError)
                assert exc.channel == "whatsapp"
            else:
                _check(events)


def _bases() -> list[dict[str, Any]]:
    bsuid = p.inbound(
        p.message("text", 1, user_id=p.BSUID),
        p.message("edit", 2, sender=None, user_id=p.BSUID),
        contacts=[p.contact(user_id=p.BSUID, parent=p.PARENT_BSUID, username="@s")],
    )
    statuses = p.statuses(
        *(p.status(s, p.wamid(i), user_id=p.BSUID) for i, s in
          enumerate(["sent", "delivered", "read", "played", "failed"])),
        contacts=[p.contact(user_id=p.BSUID)],
    )
    return [p.every_type(), bsuid, statuses, p.echoes(p.echo(1), p.echo(2))]


BASES = _bases()

# WhatsApp's keywords among the random strings, so mutations reach its branches.
WORDS = ["text", "image", "reaction", "edit", "revoke", "system", "interactive", "statuses",
         "+", "١٢٣٤٥٦٧٨", "²³⁴⁵⁶⁷⁸"]
json_values = shared_json_values(WORDS)


def _check(events: Any) -> None:
    for event in events:
        assert isinstance(event, MessageEvent | UpdateEvent)
        assert event.channel == "whatsapp"
        if isinstance(event, MessageEvent):
            assert event.contact, "a message always has a contact"
            assert event.external_id


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(BASES, WORDS))
def test_mutated_payloads_parse_or_raise_omnicx_errors(body: bytes) -> None:
    parse_both(body)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BASES), st.data())
def test_byte_level_corruption_never_escapes(base: dict[str, Any], data: st.DataObject) -> None:
    body = bytearray(json.dumps(base).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[index] = data.draw(st.integers(min_value=0, max_value=255))
    parse_both(bytes(body))


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_arbitrary_json_never_escapes(value: Any) -> None:
    parse_both(json.dumps(value).encode())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape(body: bytes) -> None:
    parse_both(body)


@pytest.mark.parametrize(
    "body", [b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}', b'"\\ud800"', b"1" * 5000]
)
def test_edge_bodies_with_both_decoders(body: bytes) -> None:
    parse_both(body)


def test_both_decoders_give_the_same_events() -> None:
    for base in BASES:
        body = json.dumps(base).encode()
        fast = WA.parse(body, {})
        with stdlib_json():
            assert WA.parse(body, {}) == fast


def test_parsing_is_deterministic() -> None:
    body = p.dumps(p.every_type())
    assert WA.parse(body, {}) == WA.parse(body, {})
