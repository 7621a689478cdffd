"""Property-based tests: the Email parser raises nothing but omnicx errors.

Whatever arrives in a mailbox (truncated uploads, binary junk, hostile MIME,
lying charsets), `Email.parse` either returns events or raises `PayloadError`,
which `History.receive` turns into a quarantine entry. Mangling starts from
the real-world samples so the fuzzer reaches deep into the MIME code.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnicx
from omnicx import MessageEvent, OmnicxError, PayloadError, UpdateEvent
from omnicx.channels import Email
from omnicx.channels.email._quotes import split_reply

SAMPLES = sorted((Path(__file__).parent / "email_samples").glob("*.eml"))
CORPUS = [p.read_bytes() for p in SAMPLES]
CHANNEL = Email(mailbox="support@example.com", also=["help@example.com"])

HEADER_NAMES = st.sampled_from([
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Received",
    "Auto-Submitted", "Thread-Index", "MIME-Version", "Return-Path",
])
NASTY_VALUES = st.sampled_from([
    "", " ", "<>", "<<<>>>", "=?utf-8?q?", "=?x?b?!!!?=", "=?utf-8?b?w6k=?=", "\udcff",
    "multipart/mixed; boundary=", "multipart/report; report-type=delivery-status; boundary=b",
    "message/rfc822", "message/delivery-status", "base64", "quoted-printable", "x-uuencode",
    "attachment; filename*=utf-8''%ff%fe", "text/plain; charset=\"utf-7\"",
    "text/plain; charset=x-nonsense", "Thu, 31 Feb 9999 99:99:99 +9999", "a@b@c, ,,<@>",
    '"unterminated <x@y>', "; ; ;", "=?utf-8?q?=E2=80?=", "(comment (nested) a@b.c",
])


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["cut", "flip", "insert", "header", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "cut":
            del data[at:]
        elif action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(max_size=40))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 200))]
        else:
            line = f"{draw(HEADER_NAMES)}: {draw(NASTY_VALUES)}\r\n"
            data[0:0] = line.encode("utf-8", "surrogateescape")
    return bytes(data)


def _parse(raw: bytes) -> None:
    try:
        events = CHANNEL.parse(raw, {})
    except PayloadError as exc:
        assert exc.channel == "email"
        return
    except OmnicxError:
        return
    for event in events:
        assert isinstance(event, (MessageEvent, UpdateEvent))
        if isinstance(event, MessageEvent):
            assert event.external_id
            assert event.contact
            assert event.occurred_at is None or event.occurred_at.tzinfo is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_real_mail_raises_only_omnicx_errors(raw: bytes) -> None:
    _parse(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_omnicx_errors(raw: bytes) -> None:
    _parse(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HEADER_NAMES, st.one_of(NASTY_VALUES, st.text(max_size=60))),
                max_size=12),
       st.text(max_size=300))
def test_hostile_headers_raise_only_omnicx_errors(
    headers: list[tuple[str, str]], body: str
) -> None:
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + body
    _parse(raw.encode("utf-8", "surrogateescape"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_quote_separation_keeps_every_new_line(body: str) -> None:
    split = split_reply(body)
    for line in split.text.splitlines():
        assert line.strip() in body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mangled(), min_size=1, max_size=4))
def test_what_cannot_be_parsed_is_quarantined_never_lost(raws: list[bytes]) -> None:
    with omnicx.open(":memory:") as history:
        kept = 0
        for raw in raws:
            try:
                history.receive(CHANNEL, body=raw)
            except PayloadError as exc:
                assert exc.quarantine_id is not None
                kept += 1
        assert len(history.quarantine()) == kept
        # and a batch (the import path) quarantines instead of raising
        receipt = history.receive_batch(CHANNEL, raws)
        assert receipt.quarantined == kept
        assert [q.body for q in history.quarantine()][kept:] == [
            raw for raw in raws if _fails(raw)]


def _fails(raw: bytes) -> bool:
    try:
        CHANNEL.parse(raw)
    except PayloadError:
        return True
    return False
