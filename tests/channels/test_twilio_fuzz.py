"""Property-based tests: mutated Twilio webhooks raise nothing but PayloadError.

Through `History.receive` a malformed (but signed) body is quarantined with
its error, never dropped and never another exception.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import twilio_payloads as p
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import MessageEvent, OmnicxError, PayloadError, UpdateEvent
from omnicx.channels import Twilio

TWILIO = Twilio(account_sid=p.ACCOUNT_SID, auth_token=p.AUTH_TOKEN, number=p.BUSINESS,
                webhook_url=p.URL)
BASES = [p.sms(), p.sms(media=[("https://x.example/m", "image/png")]), p.whatsapp(),
         p.message_status("undelivered", error_code="30005"), p.call("completed", duration="9"),
         p.call("ringing", timestamp=None), p.recording(), p.transcription()]
KEYS = sorted({k for body in BASES for k, _ in parse_qsl(body.decode())})


def check(body: bytes, content_type: str | None = None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        events = TWILIO.parse(body, headers)
    except OmnicxError as exc:
        assert isinstance(exc, PayloadError), exc
        return
    for event in events:
        assert isinstance(event, (MessageEvent, UpdateEvent))
        assert event.account == p.ACCOUNT_SID


values = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "0", "1", "11", "-3", "whatsapp:", "whatsapp:+41791234567", "client:anna", "+",
     "messenger:123", "Tue, 30 Jan 2024 19:04:05 +0000", "99999999999", "completed"]))


@given(st.sampled_from(BASES), st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=6),
       st.lists(st.sampled_from(KEYS), max_size=4))
def test_mutated_webhooks_parse_or_raise_payload_error(
        base: bytes, changes: list[tuple[str, str]], removed: list[str]) -> None:
    params = dict(parse_qsl(base.decode(), keep_blank_values=True))
    for key in removed:
        params.pop(key, None)
    params.update(changes)
    check(urlencode(params).encode())


@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_payload_error(body: bytes) -> None:
    check(body)
    check(body, "application/json")


@given(st.dictionaries(st.sampled_from(KEYS), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), values,
    st.lists(st.integers(), max_size=2)), max_size=10))
def test_json_bodies_parse_or_raise_payload_error(document: dict[str, object]) -> None:
    import json

    check(json.dumps(document).encode(), "application/json")


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(st.sampled_from(BASES), st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=4))
def test_malformed_signed_webhooks_are_quarantined(
        base: bytes, changes: list[tuple[str, str]]) -> None:
    with omnicx.open(":memory:") as history:
        params = dict(parse_qsl(base.decode(), keep_blank_values=True))
        params.update(changes)
        body = urlencode(params).encode()
        try:
            history.receive(TWILIO, body=body, headers=TWILIO.sign(body))
        except PayloadError as exc:
            (kept,) = history.quarantine()
            assert kept.id == exc.quarantine_id and kept.body == body
        assert history.verify().ok
