"""Charsets: WHATWG labels, raw 8-bit headers and parameters, damaged bodies."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from omnicx import MessageEvent
from omnicx.channels import Email
from omnicx.channels.email._charsets import _WHATWG, codec_for, decode_bytes, whatwg_encoding
from omnicx.channels.email._mime import parse_mail

CHANNEL = Email(mailbox="support@example.com")


def body_mail(body: bytes, charset: str, cte: str = "8bit") -> bytes:
    return (b"From: a@example.org\r\nTo: support@example.com\r\nSubject: s\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + charset.encode()
            + b"\r\nContent-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + body)


def text_of(raw: bytes) -> str | None:
    return parse_mail(raw).text


# -- the WHATWG label table --------------------------------------------------------------


@pytest.mark.parametrize(("label", "text", "codec"), [
    # gb2312/gbk are GBK, decoded by gb18030: a GBK-only character survives
    ("gb2312", "喆 先生", "gbk"),
    ("GBK", "喆 先生", "gbk"),
    ("x-gbk", "喆", "gbk"),
    ("gb18030", "𠀀 喆", "gb18030"),
    # iso-8859-1, us-ascii, latin1 are windows-1252: curly quotes and the euro sign
    ("iso-8859-1", "\u201eGrüße\u201c \u20ac 5", "cp1252"),
    ("us-ascii", "\u201cquoted\u201d \u2013 dash", "cp1252"),
    ("latin1", "\u20ac", "cp1252"),
    ("ascii", "\u2019", "cp1252"),
    # ks_c_5601-1987 is EUC-KR, decoded as UHC (cp949): a UHC-only syllable survives
    ("ks_c_5601-1987", "똠 안녕하세요", "cp949"),
    ("euc-kr", "똠", "cp949"),
    # shift_jis / x-sjis are windows-31j: NEC specials such as circled digits survive
    ("shift_jis", "①② こんにちは", "cp932"),
    ("x-sjis", "\u2460 テスト", "cp932"),
    ("windows-31j", "\u2460", "cp932"),
    # big5 is Big5-HKSCS
    ("big5", "嘅 你好", "big5hkscs"),
    # tis-620 and iso-8859-11 are windows-874
    ("tis-620", "\u20ac สวัสดี", "cp874"),
    ("iso-8859-11", "สวัสดี", "cp874"),
    ("iso-8859-9", "\u20ac İstanbul", "cp1254"),
    ("koi8", "Привет", "koi8_r"),
    ("koi8-u", "Привіт", "koi8_u"),
    ("iso-8859-8-i", "שלום", "iso8859_8"),
    ("iso-8859-2", "Zażółć gęślą", "iso8859_2"),
    ("iso-8859-15", "€ œ", "iso8859_15"),
    ("cyrillic", "Привет", "iso8859_5"),
    ("x-mac-roman", "café", "mac_roman"),
    ("euc-jp", "こんにちは", "euc_jp"),
    ("iso-2022-jp", "こんにちは", "iso2022_jp"),  # 7-bit: must not take the ASCII shortcut
    ("csiso2022kr", "안녕", "iso2022_kr"),
    ("hz-gb-2312", "你好", "hz"),
    ("utf-16", "\ufeffhi", "utf-16-le"),
    ("  UTF8 ", "grüße", "utf-8"),
    ("utf-7", "grüße", "utf-7"),  # not in the table: Python's text codecs
])
def test_labels_decode_as_the_whatwg_standard_maps_them(label: str, text: str,
                                                        codec: str) -> None:
    data = text.encode(codec)
    expected = text.removeprefix("\ufeff")
    assert decode_bytes(data, label) == expected
    assert text_of(body_mail(data, label)) == expected


def test_every_label_of_the_table_resolves_to_a_python_codec_or_to_undeclared() -> None:
    for name, (python_codecs, labels) in _WHATWG.items():
        for label in labels:
            assert whatwg_encoding(label.upper()) == name
            found, used = codec_for(label)
            assert found == name
            assert used == python_codecs
            for codec in used:
                if codec != "x-user-defined":
                    assert codecs.lookup(codec)


@pytest.mark.parametrize("label", ["x-klingon", "unknown-8bit", "x-unknown", "", "base64",
                                   "unicode_escape", "rot13", "iso-2022-cn", "utf-8\x00"])
def test_unknown_or_non_text_labels_fall_back_sensibly(label: str) -> None:
    assert codec_for(label)[1] == ()
    assert decode_bytes("Grüße aus Köln".encode(), label) == "Grüße aus Köln"
    assert decode_bytes("Grüße aus Köln".encode("cp1252"), label) == "Grüße aus Köln"
    assert decode_bytes(b"C:\\new\\table", label) == "C:\\new\\table"


def test_x_user_defined_maps_high_bytes_to_the_private_use_area() -> None:
    assert decode_bytes(b"a\x80\xff", "x-user-defined") == "a\uf780\uf7ff"


def test_a_byte_order_mark_decides() -> None:
    assert decode_bytes(b"\xef\xbb\xbfgr\xc3\xbc\xc3\x9fe", "iso-8859-1") == "grüße"
    assert decode_bytes("hé".encode("utf-16-be"), None) != "hé"  # no BOM: not guessed
    assert decode_bytes(b"\xfe\xff" + "hé".encode("utf-16-be"), None) == "hé"


# -- damaged bodies ------------------------------------------------------------------------

GERMAN = "Grüße aus Köln, die Straße ist überflutet \u2013 wann kommt das Paket?"
JAPANESE = "お世話になっております。荷物がまだ届いていません。"


@pytest.mark.parametrize(("text", "label", "codec"), [
    (GERMAN, "utf-8", "utf-8"),
    (JAPANESE, "utf-8", "utf-8"),
    (JAPANESE, "shift_jis", "cp932"),
    (JAPANESE, "euc-jp", "euc_jp"),
    ("您好\uff0c我的包裹还没有到。", "gb2312", "gbk"),
    ("안녕하세요, 소포가 아직 도착하지 않았습니다.", "ks_c_5601-1987", "cp949"),
    ("您好\uff0c我的包裹還沒有到。", "big5", "big5hkscs"),
])
@pytest.mark.parametrize("cte", ["8bit", "base64", "quoted-printable"])
def test_a_few_invalid_bytes_are_replaced_in_the_declared_charset(
        text: str, label: str, codec: str, cte: str) -> None:
    import base64
    import quopri

    data = text.encode(codec)
    middle = len(text) // 2
    cut = len(text[:middle].encode(codec))  # damage at a character boundary
    # 0xFF is no byte of any of these charsets; cp932 maps it, so use an unassigned row there
    bad = b"\x85\x40" if codec == "cp932" else b"\xff"
    damaged = data[:cut] + bad + data[cut:]
    body = {"8bit": damaged, "base64": base64.encodebytes(damaged),
            "quoted-printable": quopri.encodestring(damaged)}[cte]
    decoded = text_of(body_mail(body, label, cte))
    assert decoded is not None
    prefix, suffix = text[:middle], text[middle:]
    # the declared charset is kept: every character survives, the bad byte is U+FFFD
    assert decoded.replace("\ufffd", "").replace("@", "") == text
    assert decoded.startswith(prefix) and decoded.rstrip().endswith(suffix.rstrip())
    assert 1 <= decoded.count("\ufffd") <= 2


def test_a_declared_single_byte_charset_on_utf8_text_is_read_as_utf8() -> None:
    assert decode_bytes(GERMAN.encode(), "iso-8859-1") == GERMAN
    assert decode_bytes(GERMAN.encode(), "us-ascii") == GERMAN


def test_declared_utf8_on_legacy_text_is_read_as_windows_1252() -> None:
    # not one UTF-8 sequence in it: the label lied, nothing is replaced
    assert decode_bytes(GERMAN.encode("cp1252"), "utf-8") == GERMAN


@given(st.text(min_size=1, max_size=60), st.sampled_from(sorted(
    label for _, labels in _WHATWG.values() for label in labels[:2])))
def test_any_text_encoded_in_a_labelled_charset_decodes_back(text: str, label: str) -> None:
    name, used = codec_for(label)
    assume(used and used[0] != "x-user-defined")
    try:
        data = text.encode(used[0])
    except UnicodeEncodeError:
        assume(False)
        return
    assume(not text.startswith("\ufeff"))
    assume(data.decode(used[0], "replace") == text)  # some codecs encode best-fit ("¢" -> "￠")
    if name and not name.startswith("UTF"):
        try:
            as_utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            as_utf8 = None
        assume(as_utf8 is None or as_utf8 == text)  # legacy bytes that happen to be UTF-8
    assert decode_bytes(data, label) == text


@given(st.text(min_size=1, max_size=40).filter(lambda t: any(c > "\x7f" for c in t)),
       st.text(max_size=40), st.integers(1, 3))
def test_damaged_utf8_keeps_every_character(head: str, tail: str, bad: int) -> None:
    data = head.encode() + b"\xff" * bad + tail.encode()
    assert decode_bytes(data, "utf-8") == head + "\ufffd" * bad + tail


# -- raw 8-bit headers and parameters --------------------------------------------------------

RAW_HEADERS = (
    "From: Zoë Müller <zoe@example.net>\r\n"
    "To: Kundendienst Süd <support@example.com>\r\n"
    "Subject: Rückfrage zu Auftrag \u2013 東京\r\n"
    "Message-ID: <raw-8bit@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSiehe Anhang.\r\n"
    '--b\r\nContent-Type: application/pdf; name="Rechnung März.pdf"\r\n'
    'Content-Disposition: attachment; filename="Rechnung März.pdf"\r\n\r\n%PDF\r\n'
    "--b\r\nContent-Type: image/jpeg; name=写真.jpg\r\n\r\nJFIF\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''Grüße.pdf\r\n\r\n%PDF\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment;\r\n filename*0*=utf-8''%C3%84rger;\r\n"
    " filename*1=\" über Lieferung.pdf\"\r\n\r\n%PDF\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=iso-8859-1'de'%C4nderung.pdf;"
    ' filename="fallback.pdf"\r\n\r\n%PDF\r\n'
    '--b\r\nContent-Type: application/pdf; name="=?utf-8?B?w6l0w6kucGRm?="\r\n\r\n%PDF\r\n'
    "--b--\r\n"
).encode("utf-8")


def test_raw_utf8_headers_and_file_names_decode_to_the_real_characters() -> None:
    (event,) = CHANNEL.parse(RAW_HEADERS, {})
    assert isinstance(event, MessageEvent)
    assert event.contact_name == "Zoë Müller"
    assert event.subject == "Rückfrage zu Auftrag \u2013 東京"
    assert [r.name for r in event.recipients] == ["Kundendienst Süd"]
    assert [a.filename for a in event.attachments] == [
        "Rechnung März.pdf", "写真.jpg", "Grüße.pdf", "Ärger über Lieferung.pdf",
        "Änderung.pdf", "été.pdf"]
    assert "\ufffd" not in repr(event)


def test_a_raw_header_with_one_bad_byte_keeps_its_other_characters() -> None:
    raw = "Subject: Grüße aus Köln ".encode() + b"\xff\r\nFrom: a@example.org\r\n\r\nx\r\n"
    assert parse_mail(raw).subject == "Grüße aus Köln \ufffd"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                                      blacklist_characters='"\\;'),
               min_size=1, max_size=30).map(str.strip).filter(bool))
def test_any_raw_utf8_file_name_survives(name: str) -> None:
    raw = ("From: a@example.org\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
           f'--b\r\nContent-Type: application/octet-stream\r\n'
           f'Content-Disposition: attachment; filename="{name}"\r\n\r\ndata\r\n'
           "--b--\r\n").encode()
    (attachment,) = parse_mail(raw).attachments
    assert attachment.filename == " ".join(name.split()) or attachment.filename == name


@pytest.mark.parametrize("meta", [
    b'<meta charset="shift_jis">',
    b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">',
    b"<META HTTP-EQUIV='content-type' CONTENT='text/html;charset=x-sjis'>",
])
def test_an_html_part_without_a_mime_charset_uses_its_meta_charset(meta: bytes) -> None:
    html = b"<html><head>" + meta + b"</head><body><p>" + JAPANESE.encode("cp932") + b"</p>"
    raw = (b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html\r\n\r\n" + html + b"</body></html>\r\n")
    mail = parse_mail(raw)
    assert mail.html is not None and JAPANESE in mail.html
    assert mail.text == JAPANESE


def test_a_mime_charset_wins_over_the_meta_charset() -> None:
    html = b'<meta charset="iso-8859-1"><p>' + GERMAN.encode() + b"</p>"
    raw = (b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n")
    assert parse_mail(raw).text == GERMAN


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
               min_size=1, max_size=40).map(str.strip).filter(bool),
       st.integers(1, 4), st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "windows-1252"]))
def test_any_rfc2231_file_name_in_any_number_of_sections_decodes_back(
        name: str, sections: int, charset: str) -> None:
    from urllib.parse import quote_from_bytes

    codec = "utf-8" if charset.lower() == "utf-8" else "cp1252"
    try:
        data = name.encode(codec)
    except UnicodeEncodeError:
        data = name.encode("utf-8")
        charset, codec = "utf-8", "utf-8"
    if codec != "utf-8" and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            assume(False)  # legacy bytes that are also UTF-8 are read as UTF-8, on purpose
    encoded = quote_from_bytes(data, safe="")
    size = max(1, -(-len(encoded) // sections))
    # cut only between %XX escapes
    chunks, rest = [], encoded
    while rest:
        cut = min(size, len(rest))
        while cut < len(rest) and "%" in rest[max(0, cut - 2):cut]:
            cut += 1
        chunks.append(rest[:cut])
        rest = rest[cut:]
    params = "".join(
        f";\r\n filename*{i}*={charset}''{c}" if i == 0 else f";\r\n filename*{i}*={c}"
        for i, c in enumerate(chunks))
    raw = ("From: a@example.org\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
           "--b\r\nContent-Type: application/octet-stream\r\n"
           f"Content-Disposition: attachment{params}\r\n\r\ndata\r\n--b--\r\n").encode()
    (attachment,) = parse_mail(raw).attachments
    assert attachment.filename == data.decode(codec).strip()
