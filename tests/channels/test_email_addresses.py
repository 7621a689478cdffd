"""Address headers: the angle address is the mailbox, whatever the display name says."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicx import Direction, MessageEvent
from omnicx.channels import Email
from omnicx.channels.email._addresses import parse_address_list
from omnicx.channels.email._mime import decode_words, parse_mail

CHANNEL = Email(mailbox="support@example.com")


def header(name: str, value: bytes) -> tuple[tuple[str, str], ...]:
    mail = parse_mail(name.encode() + b": " + value + b"\r\nSubject: x\r\n\r\nbody\r\n")
    return {"From": mail.from_, "To": mail.to, "Cc": mail.cc,
            "Reply-To": mail.reply_to}[name]


def inbound(from_: bytes) -> MessageEvent:
    raw = (b"From: " + from_ + b"\r\nTo: support@example.com\r\nSubject: Hi\r\n"
           b"Message-ID: <a1@example.org>\r\n\r\nHello\r\n")
    (event,) = CHANNEL.parse(raw, {})
    assert isinstance(event, MessageEvent)
    return event


@pytest.mark.parametrize(("value", "expected"), [
    # A display name that is an address, quoted, unquoted, encoded, in a comment
    (b'"alice@example.com" <bob@example.com>', [("", "bob@example.com")]),
    (b"alice@example.com <bob@example.com>", [("", "bob@example.com")]),
    (b"=?utf-8?q?alice=40example=2Ecom?= <bob@example.com>", [("", "bob@example.com")]),
    (b"=?utf-8?b?" + base64.b64encode("Älice <alice@evil.com>".encode()) + b"?= <bob@example.com>",
     [("Älice", "bob@example.com")]),
    (b"bob@example.com (alice@example.com)", [("", "bob@example.com")]),
    (b'"Alice <alice@example.com>" <bob@example.com>', [("Alice", "bob@example.com")]),
    (b"bob@example.com <mailto:bob@example.com>", [("", "bob@example.com")]),
    # Ordinary names keep their text
    (b'"Smith, John" <john@example.com>', [("Smith, John", "john@example.com")]),
    (b"=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.de>, x@y.de",
     [("Müller, Hans", "hans@example.de"), ("", "x@y.de")]),
    (b'"Bob \\"the man\\" Smith" <bob@example.com>', [('Bob "the man" Smith', "bob@example.com")]),
    (b"Bob <bob@example.com> (work)", [("Bob", "bob@example.com")]),
    (b"bob@example.com (Bob Smith)", [("Bob Smith", "bob@example.com")]),
    (b"M\xc3\xbcller <m@example.de>", [("Müller", "m@example.de")]),  # raw 8-bit name
    # Missing angle brackets
    (b"John Doe john@example.com", [("John Doe", "john@example.com")]),
    (b"John <john@example.com", [("John", "john@example.com")]),
    # Groups
    (b"undisclosed-recipients:;", []),
    (b'Team: a@x.com, "b@y.com" <c@z.com>;, d@w.com',
     [("", "a@x.com"), ("", "c@z.com"), ("", "d@w.com")]),
    # Obsolete syntax: routes, spaces around "@" and "."
    (b"<@relay.example,@hop.example:bob@example.com>", [("", "bob@example.com")]),
    (b"bob @ example . com", [("", "bob@example.com")]),
    (b"Bob (the (nested) comment) <bob@example.com>", [("Bob", "bob@example.com")]),
    # An encoded word around the whole "Name <address>" (some web mailers)
    (b"=?utf-8?b?" + base64.b64encode("Zoë <zoe@example.net>".encode()) + b"?=",
     [("Zoë", "zoe@example.net")]),
    # A quoted name that holds the only "address" is no address at all
    (b'"alice@example.com"', []),
])
@pytest.mark.parametrize("name", ["From", "To", "Cc", "Reply-To"])
def test_address_headers(name: str, value: bytes, expected: list[tuple[str, str]]) -> None:
    assert list(header(name, value)) == expected


def test_a_display_name_address_never_becomes_the_sender() -> None:
    event = inbound(b'"ceo@example.com" <mallory@evil.example>')
    assert event.direction is Direction.INBOUND
    assert event.sender is not None and event.sender.value == "mallory@evil.example"
    assert [a.value for a in event.contact] == ["mallory@evil.example"]
    assert event.contact_name is None


def test_our_own_address_in_a_display_name_does_not_make_mail_outbound() -> None:
    event = inbound(b"support@example.com <mallory@evil.example>")
    assert event.direction is Direction.INBOUND
    assert event.contact[0].value == "mallory@evil.example"


NAME_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
LOCAL = st.from_regex(r"[a-z0-9][a-z0-9.+_-]{0,15}", fullmatch=True).filter(
    lambda s: ".." not in s and not s.endswith("."))
DOMAIN = st.from_regex(r"[a-z0-9]{1,10}\.(?:com|de|ch|example)", fullmatch=True)


@st.composite
def address(draw: st.DrawFn) -> str:
    return f"{draw(LOCAL)}@{draw(DOMAIN)}"


@st.composite
def spoofing_name(draw: st.DrawFn) -> str:
    """A display name written as a client would, often holding an address."""
    text = draw(st.one_of(NAME_TEXT, address(), st.builds(lambda n, a: f"{n} <{a}>",
                                                           NAME_TEXT, address())))
    style = draw(st.sampled_from(["quoted", "encoded-b", "encoded-q"]))
    if style == "quoted":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    data = text.encode("utf-8")
    if style == "encoded-b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in data) + "?="


@given(spoofing_name(), address(), st.sampled_from(["", " (comment)", " (a@b.example)"]))
def test_whatever_the_display_name_the_angle_address_is_the_mailbox(
        name: str, real: str, comment: str) -> None:
    pairs = parse_address_list(f"{name} <{real}>{comment}", decode_words)
    assert [a for _, a in pairs] == [real]
    display = pairs[0][0]
    assert "<" not in display or "@" not in display


@given(st.lists(st.tuples(spoofing_name(), address()), min_size=1, max_size=5))
def test_address_lists_keep_every_angle_address_in_order(
        entries: list[tuple[str, str]]) -> None:
    text = ", ".join(f"{name} <{real}>" for name, real in entries)
    pairs = parse_address_list(text, decode_words)
    assert [a for _, a in pairs] == [real for _, real in entries]


@given(st.text(max_size=120))
def test_any_header_text_gives_pairs_never_an_exception(text: str) -> None:
    for display, addr in parse_address_list(text, decode_words):
        assert isinstance(display, str)
        assert "@" in addr


@pytest.mark.parametrize("hostile", [
    "(" * 50000 + "a@b.c", '"' * 50001 + " <a@b.c>", "a@b.c, " * 20000, "@" * 100000,
    "a " + ". " * 50000 + "@ b", "<" * 50000 + ">" * 50000, "(" + "\\" * 100000,
], ids=["comments", "quotes", "commas", "ats", "dots", "angles", "escapes"])
def test_address_parsing_is_linear_on_hostile_headers(hostile: str) -> None:
    import time

    started = time.perf_counter()
    parse_address_list(hostile, decode_words)
    assert time.perf_counter() - started < 2.0  # about 0.1 s; quadratic would take minutes
