"""The Email adapter on real-world shaped messages (``email_samples/*.eml``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from omnicx import Direction, EventKind, MessageEvent, PayloadError, Status, UpdateEvent
from omnicx.channels import Email
from omnicx.channels.email._mime import decode_bytes, decode_words, parse_date, parse_mail
from omnicx.typing import ChannelAdapter

SAMPLES = Path(__file__).parent / "email_samples"
MAILBOX = Email(mailbox="Support@Example.com", also=["help@example.com"])


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.eml").read_bytes()


def message(name: str, channel: Email = MAILBOX) -> MessageEvent:
    events = channel.parse(sample(name), {})
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MessageEvent)
    return event


def update(name: str) -> UpdateEvent:
    events = MAILBOX.parse(sample(name), {})
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, UpdateEvent)
    return event


def test_email_is_a_channel_adapter_and_verify_accepts_anything() -> None:
    assert isinstance(MAILBOX, ChannelAdapter)
    assert MAILBOX.account == "support@example.com"
    assert MAILBOX.verify(b"anything", {}) is None


def test_gmail_reply_separates_new_text_and_threads_on_the_parent() -> None:
    event = message("gmail_reply_en")
    assert event.external_id == "CAF3x9Lq+b1Z0dK=abc123XYZ@mail.gmail.com"
    assert event.direction is Direction.INBOUND
    assert event.contact[0].value == "jane.doe@gmail.com"
    assert event.contact_name == "Jane Doe"
    assert event.occurred_at == dt.datetime(2025, 3, 4, 17, 14, 51, tzinfo=dt.UTC)
    assert event.text == (
        "Hi,\n\nthe parcel arrived but the mug is broken \u2013 can you send a new one?"
        "\n\nThanks,\nJane")
    assert "your order #10432 left our warehouse" in event.data["quoted"]
    assert "> Hello Jane," in event.data["full_text"]
    assert event.html is not None and "gmail_quote" in event.html
    assert event.reply_to == "20250303180201.4411.1@mail.example.com"
    assert event.thread_refs == ("20250303180201.4411.1@mail.example.com",)
    assert event.thread_key == "subject:your order #10432 has shipped"
    assert event.thread_window == dt.timedelta(days=30)


def test_outlook_german_reply_with_windows_1252_and_thread_index() -> None:
    event = message("outlook_reply_de")
    assert event.contact_name == "Jürgen Weiß"
    assert event.contact[0].value == "j.weiss@mueller-soehne.de"
    assert event.subject == "AW: Ihre Reklamation 4711"
    assert event.text is not None
    assert event.text.startswith("Guten Tag Frau Berger,")
    assert event.text.endswith("Müller & Söhne GmbH")
    assert "Von: Example Support" not in event.text
    assert event.data["quoted"].startswith("________________________________\nVon: Example Support")
    assert event.data["thread_topic"] == "Ihre Reklamation 4711"
    assert len(event.data["thread_index"]) == 44  # 22 bytes, hex
    assert event.thread_key == "subject:ihre reklamation 4711"


def test_french_reply_with_wrapped_attribution_and_latin1_base64() -> None:
    event = message("french_reply")
    assert event.contact_name == "Hélène Dubois"
    assert event.subject == "RE\u00a0: Rendez-vous de jeudi \u2013 confirmation"
    assert event.text is not None
    assert event.text.endswith("Cordialement,\nHélène Dubois")
    assert "a écrit" not in event.text
    assert event.data["quoted"].startswith("Le lun. 3 mars 2025 à 17:20")
    assert event.thread_key == "subject:rendez-vous de jeudi \u2013 confirmation"
    assert event.reply_to == "20250303162001.991.3@mail.example.com"


def test_html_only_mail_gets_a_derived_text_with_quotes_removed() -> None:
    event = message("html_only_apple")
    assert event.text == "Va bene, procediamo.\n\nMarc"
    assert event.data["text_from_html"] is True
    assert "Ecco il preventivo & le condizioni." in event.data["quoted"]
    assert event.thread_key == "subject:preventivo"  # Italian "R:" prefix


def test_encoded_words_addresses_and_attachments() -> None:
    event = message("encoded_words")
    assert event.contact_name == "Łukasz Nowak"
    assert event.subject == "Zażółć gęślą jaźń \u2013 załącznik"
    names = {a.value: a.name for a in event.recipients}
    assert names == {"support@example.com": "Dział Obsługi", "jan@example.pl": "Kowalski, Jan",
                     "clement@example.fr": "Clément"}
    assert event.data["cc"] == ["clement@example.fr"]
    assert event.data["reply_to_addresses"] == ["biuro@example.pl"]
    assert event.text == "Dzień dobry, w załączniku faktura."
    by_type = {(a.filename, a.content_type): a for a in event.attachments}
    pdf = by_type[("faktura nr 12\u2013b.pdf", "application/pdf")]
    expected = b"%PDF-1.4\n" + bytes(range(256)) * 8
    assert pdf.size == len(expected)
    assert pdf.sha256 == hashlib.sha256(expected).hexdigest()
    assert ("załącznik.pdf", "application/pdf") in by_type
    logo = by_type[(None, "image/png")]
    assert logo.ref == "cid:logo@pl"
    assert logo.size == 70


def test_broken_charsets_never_lose_text() -> None:
    event = message("broken_charset")
    assert event.contact_name == "Zoë Müller"  # raw UTF-8 in the header
    assert event.subject == "Frage zur Lieferung \u2013 dringend"
    assert event.text == "Grüße aus Köln, wo bleibt meine Lieferung?"  # cp1252 labelled us-ascii
    (note,) = event.attachments
    assert note.filename == "notiz.txt"
    assert note.size == len("Notiz: Café".encode())  # the CRLF before a boundary is not content


def test_missing_date_falls_back_to_newest_received_and_flags_it() -> None:
    event = message("missing_date")
    assert event.occurred_at == dt.datetime(2025, 3, 8, 9, 30, 5, tzinfo=dt.UTC)
    assert event.data["date_source"] == "received"
    # ... and a missing Message-ID gets a stable synthetic one
    assert event.data["synthetic_message_id"] is True
    assert event.external_id.endswith("@synthetic.invalid")
    assert message("missing_date").external_id == event.external_id
    relayed = b"Received: from x by y; Sun, 09 Mar 2025 10:00:00 +0000\r\n" + sample("missing_date")
    assert MAILBOX.parse(relayed)[0].external_id == event.external_id  # type: ignore[union-attr]
    from_mbox = sample("missing_date").replace(b"\r\n", b"\n") + b"\n"  # LF, extra blank line
    assert MAILBOX.parse(from_mbox)[0].external_id == event.external_id  # type: ignore[union-attr]


def test_no_date_and_no_received_is_missing_not_now() -> None:
    event = MAILBOX.parse(b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n")[0]
    assert isinstance(event, MessageEvent)
    assert event.occurred_at is None
    assert event.data["date_source"] == "missing"


@pytest.mark.parametrize(("value", "expected"), [
    ("Tue, 4 Mar 2025 18:14:51 +0100", dt.datetime(2025, 3, 4, 17, 14, 51, tzinfo=dt.UTC)),
    ("4 Mar 2025 18:14:51 -0000", dt.datetime(2025, 3, 4, 18, 14, 51, tzinfo=dt.UTC)),
    ("Tue, 04 Mar 2025 18:14:51 CET", dt.datetime(2025, 3, 4, 18, 14, 51, tzinfo=dt.UTC)),
    ("2025-03-04T18:14:51+01:00", dt.datetime(2025, 3, 4, 17, 14, 51, tzinfo=dt.UTC)),
    ("Dienstag, 4. März", None),
    ("", None),
    ("Tue, 4 Mar 1802 18:14:51 +0100", None),
])
def test_dates_are_aware_utc_or_none(value: str, expected: dt.datetime | None) -> None:
    assert parse_date(value) == expected


def test_outbound_copy_from_an_alias_targets_the_customer() -> None:
    event = message("outbound")
    assert event.direction is Direction.OUTBOUND
    assert event.status is Status.SENT
    assert event.sender is not None and event.sender.value == "help@example.com"
    assert event.contact[0].value == "jane.doe@gmail.com"
    assert event.reply_to == "CAF3x9Lq+b1Z0dK=abc123XYZ@mail.gmail.com"
    assert event.thread_refs == ("20250303180201.4411.1@mail.example.com",
                                 "CAF3x9Lq+b1Z0dK=abc123XYZ@mail.gmail.com")


def test_mail_between_our_own_addresses_is_internal() -> None:
    raw = b"From: help@example.com\r\nTo: support@example.com\r\nSubject: x\r\n\r\nnote\r\n"
    event = MAILBOX.parse(raw)[0]
    assert isinstance(event, MessageEvent)
    assert event.direction is Direction.INTERNAL


def test_dsn_bounce_fails_the_original_outbound_message() -> None:
    event = update("bounce_dsn")
    assert event.kind is EventKind.STATUS
    assert event.status is Status.FAILED
    assert event.target == "20250304095958.1234.5@mail.example.com"
    assert event.event_id == "delivery-status:20250304100004.4Z6kQ1@mail.example.com:0"
    assert event.error is not None and "5.1.1" in event.error and "User unknown" in event.error
    assert event.contact[0].value == "no.such.user@kunde.de"


def test_classic_exim_bounce_finds_the_original_in_the_text() -> None:
    event = update("bounce_exim")
    assert event.status is Status.FAILED
    assert event.target == "20250305081230.555.9@mail.example.com"
    assert event.error == "550 5.2.1 Mailbox disabled for this recipient"
    assert event.contact[0].value == "old.address@example.org"


def test_read_receipt_marks_the_original_read() -> None:
    event = update("mdn_read")
    assert event.status is Status.READ
    assert event.target == "20250304174000.1.1@mail.example.com"


@pytest.mark.parametrize(("name", "signal"), [
    ("ooo_de", "auto-submitted: auto-replied"),
    ("ooo_exchange", "x-ms-exchange-organization-autoresponse"),
])
def test_out_of_office_replies_are_marked(name: str, signal: str) -> None:
    event = message(name)
    assert event.message_type == "auto_reply"
    assert event.data["auto_reply"] == signal


def test_ordinary_mail_is_not_an_auto_reply() -> None:
    event = message("gmail_reply_en")
    assert event.message_type == "email"
    assert "auto_reply" not in event.data


def test_forwarded_message_is_an_attachment_and_summarised() -> None:
    event = message("forwarded_rfc822")
    assert event.text == "Bitte schauen Sie sich das weitergeleitete Angebot an."
    (attached,) = event.attachments
    assert attached.content_type == "message/rfc822"
    assert attached.filename == "Angebot.eml"
    assert event.data["forwarded"] == [{
        "message_id": "offer-99@competitor.example", "from": "sales@competitor.example",
        "subject": "Angebot", "date": "2025-03-07T15:00:00+00:00"}]


def test_separate_quotes_off_keeps_the_whole_body() -> None:
    channel = Email(mailbox="support@example.com", separate_quotes=False)
    event = message("gmail_reply_en", channel)
    assert event.text is not None and "> Hello Jane," in event.text


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"no headers at all, just text"])
def test_not_an_email_is_a_payload_error(raw: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        MAILBOX.parse(raw)
    assert info.value.channel == "email"


def test_mail_without_any_sender_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="no valid From"):
        MAILBOX.parse(b"To: support@example.com\r\nSubject: who?\r\n\r\nbody\r\n")


def test_header_decoding_helpers() -> None:
    assert decode_words("=?utf-8?q?caf=C3=A9?= =?utf-8?q?_au_lait?=") == "café au lait"
    assert decode_words("=?x-unknown?q?caf=E9?=") == "café"  # unknown charset: utf-8, then cp1252
    assert decode_words("=?utf-8?b?bad base64?=") == "=?utf-8?b?bad base64?="
    assert decode_bytes(b"\x81\x8d", "utf-8") == "\x81\x8d"  # latin-1 as the last resort


def test_deeply_nested_mime_is_refused_cleanly() -> None:
    head = b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
    body = b""
    for level in range(60):
        body += (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                 % (level, level))
    with pytest.raises(PayloadError):
        MAILBOX.parse(head + body)


def test_parsed_mail_keeps_duplicate_reference_ids_out() -> None:
    raw = (b"From: a@example.org\r\nMessage-ID: <m3@x>\r\n"
           b"References: <m1@x> <m2@x> <m1@x> <m3@x>\r\nIn-Reply-To: <m2@x>\r\n\r\nbody\r\n")
    event = MAILBOX.parse(raw)[0]
    assert isinstance(event, MessageEvent)
    assert event.thread_refs == ("m1@x", "m2@x")
    assert event.reply_to == "m2@x"
    assert parse_mail(raw).references == ("m1@x", "m2@x", "m1@x", "m3@x")


def test_body_split_around_an_inline_image_is_one_text() -> None:
    raw = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
           b"--m\r\nContent-Type: text/plain\r\n\r\nBefore the picture.\r\n"
           b"--m\r\nContent-Type: image/jpeg\r\nContent-Disposition: inline; filename=a.jpg\r\n"
           b"\r\nJPEG\r\n"
           b"--m\r\nContent-Type: text/plain\r\n\r\nAfter the picture.\r\n--m--\r\n")
    event = MAILBOX.parse(raw)[0]
    assert isinstance(event, MessageEvent)
    assert event.text == "Before the picture.\nAfter the picture."
    assert [a.filename for a in event.attachments] == ["a.jpg"]


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw = (b"From: a@example.org\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/alternative; boundary=a\r\n\r\n"
           b"--a\r\nContent-Type: text/plain\r\n\r\n\r\n"
           b"--a\r\nContent-Type: text/plain\r\n\r\nsecond plain alternative\r\n"
           b"--a\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n--a--\r\n")
    event = MAILBOX.parse(raw)[0]
    assert isinstance(event, MessageEvent)
    assert event.text == "Hello there"
    assert event.data["text_from_html"] is True


def test_thunderbird_russian_koi8_bottom_posted_reply() -> None:
    event = message("thunderbird_ru_bottom")
    assert event.contact_name == "Иван Петров"
    assert event.subject == "Re: Заказ 4711"
    assert event.text == "Спасибо, но посылка пришла повреждённой."
    assert event.data["signature"] == "Иван Петров"
    assert event.data["quoted"].startswith("03.03.2025 10:02, Служба поддержки пишет:")


def test_outlook_chinese_gbk_labelled_gb2312_with_a_raw_utf8_file_name() -> None:
    event = message("outlook_zh_gbk")
    assert event.contact_name == "王喆"
    assert event.contact[0].value == "wang.zhe@example.cn"
    assert event.subject == "回复: 订单 4711"
    assert event.text == "您好\uff0c\n附件是喆先生的发票。"
    assert event.data["quoted"].startswith("发件人: Example Support")
    assert [a.filename for a in event.attachments] == ["发票 喆.pdf"]
    # the display name "support@example.com" on our own address is no name at all
    assert [(r.value, r.name) for r in event.recipients] == [("support@example.com", None)]


def test_a_lost_boundary_parameter_still_gives_the_text_and_the_attachment() -> None:
    event = message("broken_boundary")
    assert event.text == ("Guten Tag, die Rechnung 4711 wurde doppelt abgebucht. "
                          "Bitte um Rückerstattung.")
    assert [(a.filename, a.content_type) for a in event.attachments] == [
        ("kontoauszug.pdf", "application/pdf")]


def test_a_qmail_bounce_without_the_original_id_is_a_failed_status_on_an_unknown_original(
        ) -> None:
    event = update("bounce_qmail_no_id")
    assert event.status is Status.FAILED
    assert event.target.startswith("unknown-original:")
    assert [a.value for a in event.contact] == ["anna@example.org"]
