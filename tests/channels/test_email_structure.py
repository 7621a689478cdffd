"""Broken MIME structure and bounces that cannot name their original."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx import MessageEvent, Status, UpdateEvent
from omnicx._history import History
from omnicx.channels import Email
from omnicx.channels.email._mime import parse_mail

EMAIL = Email(mailbox="support@example.com")
HEAD = (b"From: Anna Keller <anna@example.org>\r\nTo: support@example.com\r\n"
        b"Subject: Rechnung\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n"
        b"Message-ID: <structure-1@example.org>\r\nMIME-Version: 1.0\r\n")
TEXT = "Guten Tag, die Rechnung 4711 ist doppelt abgebucht worden."


@pytest.fixture
def history() -> Iterator[History]:
    with omnicx.open(":memory:") as opened:
        yield opened


def _parts(boundary: bytes) -> bytes:
    return (b"--" + boundary + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            + TEXT.encode().replace(b"\xc3\xbc", b"=C3=BC") + b"\r\n"
            b"--" + boundary + b"\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"rechnung.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
            b"--" + boundary + b"--\r\n")


@pytest.mark.parametrize(("content_type", "boundary"), [
    (b"multipart/mixed", b"----=_Part_0_1234.5678"),  # no boundary parameter
    (b'multipart/mixed; boundary=""', b"b1_a8e7"),  # empty
    (b'multipart/mixed; boundary="----=_NextPart_000_0001"', b"----=_NextPart_000_0002"),
    (b"multipart/mixed; boundary=Apple-Mail-ABC", b"apple-mail-abc"),  # case changed
    (b"multipart/mixed; boundary=", b"000000000000a1b2c3"),
    (None, b"------=_Part_7"),  # the Content-Type header itself is lost
])
def test_a_missing_or_wrong_boundary_still_gives_the_text(
        content_type: bytes | None, boundary: bytes) -> None:
    header = b"" if content_type is None else b"Content-Type: " + content_type + b"\r\n"
    raw = HEAD + header + b"\r\n" + _parts(boundary)
    (event,) = EMAIL.parse(raw, {})
    assert isinstance(event, MessageEvent)
    assert event.text == TEXT
    assert [(a.filename, a.content_type) for a in event.attachments] == [
        ("rechnung.pdf", "application/pdf")]
    assert "RecoveredMultipartBoundary" in event.data["defects"]


def test_a_wrong_boundary_in_alternative_keeps_one_text_and_the_html() -> None:
    raw = (HEAD + b'Content-Type: multipart/alternative; boundary="AAA"\r\n\r\n'
           b"--BBB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + TEXT.encode() +
           b"\r\n--BBB\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + TEXT.encode() +
           b"</p>\r\n--BBB--\r\n")
    mail = parse_mail(raw)
    assert mail.text == TEXT
    assert mail.html == f"<p>{TEXT}</p>"
    assert mail.attachments == ()


@pytest.mark.parametrize(("body", "text", "html"), [
    (TEXT.encode() + b"\r\n", TEXT, False),
    (b"<html><body><p>" + TEXT.encode() + b"</p></body></html>\r\n", TEXT, True),
])
def test_a_multipart_without_any_delimiter_is_read_as_its_text(
        body: bytes, text: str, html: bool) -> None:
    raw = HEAD + b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\n' + body
    mail = parse_mail(raw)
    assert mail.text is not None and mail.text.strip() == text
    assert (mail.html is not None) == html
    assert mail.attachments == ()


def test_plain_mail_with_a_signature_dash_line_is_not_taken_for_mime() -> None:
    raw = b"From: a@example.org\r\nSubject: s\r\n\r\n-- \r\nContent-Type: not a header\r\n"
    assert parse_mail(raw).text == "-- \nContent-Type: not a header\n"


@given(st.from_regex(rb"[0-9A-Za-z'()+_,./=?-]{1,60}", fullmatch=True),
       st.sampled_from([b"", b"; boundary=", b'; boundary="wrong-one"']))
def test_any_boundary_is_found_again(boundary: bytes, param: bytes) -> None:
    raw = HEAD + b"Content-Type: multipart/mixed" + param + b"\r\n\r\n" + _parts(boundary)
    mail = parse_mail(raw)
    assert mail.text == TEXT
    assert [a.filename for a in mail.attachments] == ["rechnung.pdf"]


# -- bounces without the original's Message-ID ------------------------------------------

ORIGINAL_NO_ID = (b"From: Example Support <support@example.com>\r\n"
                  b"To: anna@example.org\r\nSubject: Ihre Rechnung\r\n"
                  b"Date: Tue, 4 Mar 2025 10:59:58 +0100\r\n")

DSN_HEADERS_ONLY = (
    b"Return-Path: <>\r\nDate: Tue, 4 Mar 2025 11:00:04 +0100\r\n"
    b"From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\nTo: support@example.com\r\n"
    b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n'
    b"Message-Id: <20250304100004.4Z6kQ1@mail.example.com>\r\n\r\n"
    b"--R\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"<anna@example.org>: host mx.example.org said: 550 5.1.1 User unknown\r\n"
    b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mail.example.com\r\n\r\n"
    b"Final-Recipient: rfc822; anna@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
    b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n" + ORIGINAL_NO_ID +
    b"--R--\r\n")

DSN_FULL_ORIGINAL = DSN_HEADERS_ONLY.replace(
    b"Content-Type: text/rfc822-headers\r\n\r\n" + ORIGINAL_NO_ID,
    b"Content-Type: message/rfc822\r\n\r\n" + ORIGINAL_NO_ID + b"\r\nGuten Tag\r\n")

QMAIL = (  # qmail's "failure notice": the original follows the text, here without an id
    b"Return-Path: <>\r\nDate: 4 Mar 2025 10:00:05 -0000\r\n"
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: support@example.com\r\n"
    b"Subject: failure notice\r\nMessage-ID: <qmail-bounce-1@mx.example.net>\r\n\r\n"
    b"Hi. This is the qmail-send program at mx.example.net.\r\n"
    b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
    b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
    b"<anna@example.org>:\r\n550 5.1.1 mailbox unavailable\r\n\r\n"
    b"--- Below this line is a copy of the message.\r\n\r\n" + ORIGINAL_NO_ID +
    b"\r\nGuten Tag\r\n")


@pytest.mark.parametrize("raw", [DSN_HEADERS_ONLY, DSN_FULL_ORIGINAL, QMAIL],
                         ids=["dsn-headers", "dsn-message", "qmail"])
def test_a_bounce_without_the_original_message_id_is_a_bounce_event(raw: bytes) -> None:
    (event,) = EMAIL.parse(raw, {})
    assert isinstance(event, UpdateEvent)
    assert event.status is Status.FAILED
    assert event.target.startswith("unknown-original:")
    assert [a.value for a in event.contact] == ["anna@example.org"]
    assert event.error is not None and "5.1.1" in event.error
    if raw is not QMAIL:
        assert event.data["original"]["subject"] == "Ihre Rechnung"


@pytest.mark.parametrize("raw", [DSN_HEADERS_ONLY, DSN_FULL_ORIGINAL, QMAIL],
                         ids=["dsn-headers", "dsn-message", "qmail"])
def test_such_a_bounce_creates_no_mailer_daemon_contact_and_opens_a_gap(
        history: History, raw: bytes) -> None:
    anna = history.receive(EMAIL, body=(
        b"From: anna@example.org\r\nTo: support@example.com\r\nSubject: Frage\r\n"
        b"Message-ID: <q1@example.org>\r\n\r\nHallo\r\n")).interactions[0]
    receipt = history.receive(EMAIL, body=raw)
    assert receipt.stored == 0
    assert receipt.updates == 1
    assert history.contacts.find("MAILER-DAEMON@mail.example.com") is None
    assert history.contacts.find("MAILER-DAEMON@mx.example.net") is None
    assert len(list(history.contacts)) == 1
    (gap,) = history.gaps()
    assert gap.kind == "status_without_message"
    assert gap.reference.startswith("unknown-original:")
    assert gap.contact_id == anna.contact_id
    again = history.receive(EMAIL, body=raw)
    assert again.duplicates == 1 and len(history.gaps()) == 1


def test_a_delay_warning_from_the_daemon_is_a_delayed_status_not_a_contact(
        history: History) -> None:
    raw = (b"Return-Path: <>\r\nDate: Tue, 4 Mar 2025 14:00:04 +0100\r\n"
           b"From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.com>\r\n"
           b"To: support@example.com\r\nMessage-ID: <delay-1@mail.example.com>\r\n"
           b"Subject: Warning: could not send message for past 4 hours\r\n\r\n"
           b"    **********************************************\r\n"
           b"    **      THIS IS A WARNING MESSAGE ONLY      **\r\n"
           b"    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\r\n"
           b"    **********************************************\r\n\r\n"
           b"The original message was received at Tue, 4 Mar 2025 10:00:00 +0100\r\n\r\n"
           b"   ----- Transcript of session follows -----\r\n"
           b"<anna@example.org>... Deferred: Connection timed out with mx.example.org.\r\n"
           b"Warning: message still undelivered after 4 hours\r\n")
    (event,) = EMAIL.parse(raw, {})
    assert isinstance(event, UpdateEvent)
    assert event.status == "delayed"
    assert event.error is None
    receipt = history.receive(EMAIL, body=raw)
    assert receipt.stored == 0
    assert history.contacts.find("MAILER-DAEMON@mail.example.com") is None


def test_a_body_written_before_the_first_part_is_the_text() -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="P"\r\n\r\n' + TEXT.encode() +
           b"\r\n--P\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--P--\r\n")
    mail = parse_mail(raw)
    assert mail.text == TEXT
    assert [a.filename for a in mail.attachments] == ["rechnung.pdf"]


def test_the_standard_mime_preamble_is_not_text() -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="P"\r\n\r\n'
           b"This is a multi-part message in MIME format.\r\n"
           b"--P\r\nContent-Type: application/pdf; name=\"rechnung.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--P--\r\n")
    assert parse_mail(raw).text is None
