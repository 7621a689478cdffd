"""Property-based tests for the Telegram, Messenger and Instagram parsers.

Mutated documented payloads, corrupted bytes and arbitrary JSON either parse
into sound events or raise `PayloadError` for the right channel: no
`KeyError`, `TypeError`, `OverflowError` or bare `ValueError` escapes. And
what the parsers promise for valid input holds for generated input (ids,
texts, the largest photo, watermarks).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import messaging_payloads as mp
import pytest
import telegram_payloads as tp
from _mutation import json_values, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicx import MessageEvent, OmnicxError, PayloadError, UpdateEvent, WatermarkEvent
from omnicx.channels import Instagram, Messenger, Telegram, _common

TG = Telegram(bot_token=tp.BOT_TOKEN, secret_token=tp.SECRET)
FB = Messenger(page_id=mp.PAGE_ID, app_secret="s")
IG = Instagram(instagram_id=mp.IG_ID, app_secret="s")

ADAPTERS: dict[str, tuple[Any, list[Any]]] = {
    "telegram": (TG, tp.every_type()),
    "messenger": (FB, [json.loads(mp.body(*mp.every_type())),
                       *(json.loads(mp.body(item)) for item in mp.every_type())]),
    "instagram": (IG, [json.loads(mp.ig_body(*mp.every_instagram_type()))]),
}


@contextlib.contextmanager
def stdlib_json() -> Iterator[None]:
    saved = _common.orjson
    _common.orjson = None  # type: ignore[assignment]
    try:
        yield
    finally:
        _common.orjson = saved


def parse_both(name: str, body: bytes) -> None:
    adapter, _ = ADAPTERS[name]
    for decoder in (contextlib.nullcontext, stdlib_json):
        with decoder():
            try:
                events = adapter.parse(body, {})
            except OmnicxError as exc:
                assert isinstance(exc, PayloadError), repr(exc)
                assert exc.channel == name
            else:
                for event in events:
                    assert isinstance(event, MessageEvent | UpdateEvent | WatermarkEvent)
                    assert event.channel == name
                    assert event.contact or isinstance(event, UpdateEvent)
                    if isinstance(event, MessageEvent):
                        assert event.external_id


WORDS = ["private", "kicked", "member", "react", "unreact", "image", "location", "template",
         "page", "instagram"]


NAMES = sorted(ADAPTERS)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_payloads_parse_or_raise_payload_errors(name: str, data: st.DataObject
                                                        ) -> None:
    parse_both(name, data.draw(mutated(ADAPTERS[name][1], WORDS)))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_byte_level_corruption_never_escapes(name: str, data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(ADAPTERS[name][1]))
    body = bytearray(json.dumps(base).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[index] = data.draw(st.integers(min_value=0, max_value=255))
    parse_both(name, bytes(body))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(value=json_values(WORDS))
def test_arbitrary_json_never_escapes(name: str, value: Any) -> None:
    parse_both(name, json.dumps(value).encode())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}',
                                  b'"\\ud800"', b"", b"\xff\xfe"])
def test_edge_bodies(name: str, body: bytes) -> None:
    parse_both(name, body)


# -- what valid input promises ---------------------------------------------------------

ids = st.integers(min_value=1, max_value=2**52)
texts = st.text(min_size=1, max_size=200).filter(str.strip)


@settings(max_examples=200, deadline=None)
@given(user_id=ids, chat_message=ids, text=texts, date=st.integers(0, 4_000_000_000))
def test_telegram_text_round_trips(user_id: int, chat_message: int, text: str, date: int
                                   ) -> None:
    value = tp.update(1, message=tp.message(chat_message, sender=tp.user(user_id),
                                            chat=tp.private_chat(user_id), date=date,
                                            text=text))
    (event,) = TG.parse(tp.body(value), {})
    assert isinstance(event, MessageEvent)
    assert event.text == text and event.external_id == f"{user_id}:{chat_message}"
    assert [a.value for a in event.contact] == [str(user_id)]
    assert event.occurred_at is not None and int(event.occurred_at.timestamp()) == date


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "file_id": st.text(min_size=1, max_size=10), "file_unique_id": st.text(max_size=5),
    "width": st.integers(1, 5000), "height": st.integers(1, 5000),
    "file_size": st.integers(0, 10**9)}), min_size=1, max_size=6))
def test_telegram_photo_is_always_the_largest(sizes: list[dict[str, Any]]) -> None:
    value = tp.update(1, message=tp.message(1, photo=sizes))
    (event,) = TG.parse(tp.body(value), {})
    assert isinstance(event, MessageEvent)
    (photo,) = event.attachments
    largest = max(s["width"] * s["height"] for s in sizes)
    assert any(s["file_id"] == photo.ref and s["width"] * s["height"] == largest
               for s in sizes)


@settings(max_examples=200, deadline=None)
@given(psid=st.from_regex(r"[1-9][0-9]{5,17}", fullmatch=True), text=texts,
       mark=st.integers(10**12, 2 * 10**12), echo=st.booleans())
def test_messenger_message_and_watermark_round_trip(psid: str, text: str, mark: int,
                                                    echo: bool) -> None:
    item = (mp.echo("m_x", text) if echo else mp.text("m_x", text))
    item["recipient" if echo else "sender"] = {"id": psid}
    message, watermark = FB.parse(mp.body(item, mp.delivery(None, watermark=mark)), {})
    assert isinstance(message, MessageEvent) and message.text == text
    assert message.direction == ("outbound" if echo else "inbound")
    assert isinstance(watermark, WatermarkEvent) and watermark.up_to is not None
    assert round(watermark.up_to.timestamp() * 1000) == mark


def test_parsing_is_deterministic() -> None:
    for name in NAMES:
        adapter, bases = ADAPTERS[name]
        for base in bases:
            body = json.dumps(base).encode()
            first = adapter.parse(body, {})
            with stdlib_json():
                assert adapter.parse(body, {}) == first
