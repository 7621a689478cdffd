"""Property-based tests: mutated valid payloads never raise anything but omnicx errors."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import whatsapp_payloads as p
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

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1e400", "-1", "text", "image", "reaction", "edit", "revoke",
                       "system", "interactive", "statuses", "+", "١٢٣٤٥٦٧٨", "²³⁴⁵⁶⁷⁸"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(document)))
        if not path:
            document = draw(json_values)
            continue
        parent = _parent(document, path)
        operation = draw(st.sampled_from(["replace", "delete", "duplicate", "retype"]))
        if operation == "replace":
            parent[path[-1]] = draw(json_values)
        elif operation == "delete":
            del parent[path[-1]]
        elif operation == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            value = parent[path[-1]]
            parent[path[-1]] = (
                str(value) if not isinstance(value, str) else [value]
            )
    return json.dumps(document).encode()


def _check(events: Any) -> None:
    for event in events:
        assert isinstance(event, MessageEvent | UpdateEvent)
        assert event.channel == "whatsapp"
        if isinstance(event, MessageEvent):
            assert event.contact, "a message always has a contact"
            assert event.external_id


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
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
