"""MIME parsing for the Email channel: raw RFC 5322 bytes to a `ParsedMail`.

The standard library's `email` package does the MIME structure; this module
adds what real-world mail needs on top of it and keeps its quirks inside:

- the parser runs with the ``compat32`` policy. We measured it at about 14x
  the throughput of ``policy.default`` on the same corpus (see
  ``benchmarks/bench_email_parse.py``), and ``policy.default``'s extra work
  (header objects, address registries) is exactly the part that raises on
  broken headers. Header decoding is therefore done here, tolerantly:
  RFC 2047 encoded words with unknown charsets, raw 8-bit headers; address
  lists by `omnicx.channels.email._addresses` (the angle address wins over
  any display name), file name parameters from their raw bytes by
  `omnicx.channels.email._params`;
- bodies and headers are decoded by `omnicx.channels.email._charsets`
  (WHATWG label table; damaged text keeps its declared charset);
- a multipart whose boundary is missing or wrong is parsed again with the
  boundary its body uses (`omnicx.channels.email._recover`);
- dates fall back to the newest ``Received`` header (``date_source`` says
  which one was used);
- delivery reports (``multipart/report``) are read into `DeliveryReport`s.

Nothing here raises anything but `PayloadError`; the stdlib's exceptions are
translated at the boundary.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import quopri
import re
from collections.abc import Iterator
from email.header import Header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

import attrs
from dateutil import parser as dateparser

from ..._errors import PayloadError
from ._addresses import parse_address_list
from ._charsets import decode_bytes, html_meta_charset
from ._html import html_to_text
from ._params import header_param
from ._recover import find_boundary, looks_like_html, reparse_multipart

__all__ = [
    "DeliveryReport",
    "MimeAttachment",
    "ParsedMail",
    "decode_bytes",
    "decode_words",
    "parse_mail",
    "parse_message_ids",
]

_CHANNEL = "email"
_PARSER = BytesParser(policy=compat32)
_MAX_DEPTH = 20  # nested message/rfc822 or multipart levels we walk into
_REPORT_TYPES = ("message/delivery-status", "message/disposition-notification")

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_WS_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_MSGID = re.compile(r"<([^<>\s]+)>")
_BARE_ID = re.compile(r"[^\s<>,;\"()]+@[^\s<>,;\"()]+")


@attrs.frozen(kw_only=True)
class MimeAttachment:
    """One attachment: what the interaction records about a file."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    content_id: str | None = None
    data: bytes = attrs.field(default=b"", repr=False, eq=False)  # the decoded bytes


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What a bounce or a delivery status notification says about one recipient."""

    recipient: str | None
    action: str  # failed, delayed, delivered, relayed, expanded, displayed (MDN)
    status: str | None = None
    diagnostic: str | None = None
    original_message_id: str | None = None  # read receipts name the message they are about


@attrs.frozen(kw_only=True)
class ParsedMail:
    """The decoded content of one email message.

    Addresses are ``(display name, address)`` pairs as written (not yet
    validated). ``message_id`` and the reference lists are normalised (no
    angle brackets). ``date_source`` is ``"date"``, ``"received"`` or
    ``"missing"``.
    """

    message_id: str | None
    subject: str | None
    from_: tuple[tuple[str, str], ...]
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    bcc: tuple[tuple[str, str], ...]
    reply_to: tuple[tuple[str, str], ...]
    sender: tuple[tuple[str, str], ...]
    date: dt.datetime | None
    date_source: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    thread_index: str | None
    thread_topic: str | None
    text: str | None
    html: str | None
    text_from_html: bool
    attachments: tuple[MimeAttachment, ...]
    forwarded: tuple[ParsedMail, ...]
    content_type: str
    auto_submitted: str | None
    headers: dict[str, str]  # selected single headers, decoded (lower-case names)
    report_type: str | None = None
    reports: tuple[DeliveryReport, ...] = ()
    original_message_id: str | None = None
    original_headers: dict[str, str] = attrs.field(factory=dict)
    defects: tuple[str, ...] = ()
    body_digest: str = ""


# -- header decoding ------------------------------------------------------------------


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1), match.group(2).upper(), match.group(3)
    try:
        if encoding == "B":
            padded = payload + "=" * (-len(payload) % 4)
            raw = base64.b64decode(padded)
        else:
            raw = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"),
                                      header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(raw, charset)


def _raw_header_text(value: str | Header) -> str:
    """A header value as text, undoing the parser's surrogate escapes of 8-bit bytes."""
    if isinstance(value, Header):
        # compat32 wraps headers holding raw 8-bit bytes in a Header of unknown-8bit
        # chunks; re-join them as the original bytes and decode those.
        parts: list[str] = []
        chunks: list[tuple[str, object]] = getattr(value, "_chunks", [])  # no public accessor
        for chunk, charset in chunks:
            if str(charset) == "unknown-8bit":
                parts.append(decode_bytes(chunk.encode("ascii", "surrogateescape"), None))
            else:
                parts.append(chunk)
        return "".join(parts)
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: raw 8-bit bytes in the header
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return value


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (whitespace between adjacent words is dropped)."""
    if "=?" not in value:
        return value
    joined = _WS_BETWEEN_WORDS.sub(r"\1\2", value)
    return _ENCODED_WORD.sub(_decode_word, joined)


def _unfold(value: str) -> str:
    return " ".join(value.split()) if ("\n" in value or "\r" in value or "\t" in value) else value


HeaderIndex = dict[str, list[str]]


def _index(msg: Message) -> HeaderIndex:
    """All header fields by lower-case name, raw, in one pass.

    ``Message.get`` scans every field on each call; a message is asked for
    about thirty names, so indexing once is several times cheaper.
    """
    index: HeaderIndex = {}
    for name, value in msg.raw_items():
        index.setdefault(name.lower(), []).append(value)
    return index


def _header(headers: HeaderIndex, name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    text = _unfold(_raw_header_text(values[0])).strip()
    return text or None


def _decoded_header(headers: HeaderIndex, name: str) -> str | None:
    value = _header(headers, name)
    return None if value is None else decode_words(value).strip() or None


def _addresses(headers: HeaderIndex, name: str) -> tuple[tuple[str, str], ...]:
    values = headers.get(name)
    if not values:
        return ()
    result: list[tuple[str, str]] = []
    for value in values:
        for display, address in parse_address_list(_unfold(_raw_header_text(value)),
                                                   decode_words):
            if "@" in address:
                result.append((display, address))
    return tuple(result)


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """The Message-IDs in a References/In-Reply-To value, normalised, in order.

    Angle-bracketed ids are preferred; clients that omit the brackets are
    tolerated by taking bare ``local@domain`` tokens.
    """
    if not value:
        return ()
    ids = _MSGID.findall(value)
    if not ids:
        ids = _BARE_ID.findall(value)
    return tuple(i for i in (normalise_message_id(x) for x in ids) if i)


def normalise_message_id(value: str) -> str:
    """A Message-ID without angle brackets or whitespace ("" when nothing is left)."""
    text = value.strip()
    match = _MSGID.search(text)
    if match:
        return match.group(1)
    return "".join(text.strip("<>").split())


# -- dates ------------------------------------------------------------------------------

_MIN_DATE = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)
_MAX_DATE = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def parse_date(value: str | None) -> dt.datetime | None:
    """An RFC 5322 date as aware UTC, or ``None`` if it cannot be read.

    ``-0000`` and missing zones are taken as UTC. Implausible years are
    rejected rather than stored.
    """
    if not value:
        return None
    parsed: dt.datetime | None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = _lenient_date(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        parsed = parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None
    return parsed if _MIN_DATE <= parsed < _MAX_DATE else None


_DEFAULTS = (dt.datetime(2001, 1, 1, 1, 1, 1), dt.datetime(2002, 2, 2, 2, 2, 2))


def _lenient_date(value: str) -> dt.datetime | None:
    """ISO 8601 and other non-RFC spellings; ``None`` unless the date is complete.

    dateutil fills missing fields from its ``default``: parsing with two
    different defaults and comparing tells a complete date from a guess,
    without ever consulting the clock.
    """
    try:
        first, second = (dateparser.parse(value[:200], default=d) for d in _DEFAULTS)
    except (ValueError, OverflowError, TypeError, LookupError):
        return None
    if first.date() != second.date():
        return None
    if first.time() != second.time():  # a date without a time: midnight, not a guess
        first = first.replace(hour=0, minute=0, second=0, microsecond=0)
    return first


def _received_date(headers: HeaderIndex) -> dt.datetime | None:
    newest: dt.datetime | None = None
    for raw in headers.get("received", ()):
        text = _unfold(_raw_header_text(raw))
        _, sep, when = text.rpartition(";")
        if not sep:
            continue
        parsed = parse_date(when.strip())
        if parsed is not None and (newest is None or parsed > newest):
            newest = parsed
    return newest


# -- bodies and attachments -------------------------------------------------------------


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError, LookupError):
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _raw_field(part: Message, name: str) -> str | None:
    """A header of ``part`` as the parser stored it (8-bit bytes as surrogate escapes)."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else _raw_header_text(value)
    return None


def _filename(content_type: str | None, disposition: str | None) -> str | None:
    if disposition is None and (content_type is None or "name" not in content_type.lower()):
        return None  # the common body part: no parameter parsing needed
    return (header_param(disposition, "filename", decode_words)
            or header_param(content_type, "name", decode_words))


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except (ValueError, TypeError, IndexError, AttributeError):
        return "application/octet-stream"


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, LookupError, IndexError):
        return None
    return charset if isinstance(charset, str) else None


def _disposition(part: Message) -> str | None:
    value = part.get("Content-Disposition")
    if value is None:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


@attrs.define
class _Walk:
    text: list[str] = attrs.Factory(list)
    html: list[str] = attrs.Factory(list)
    attachments: list[MimeAttachment] = attrs.Factory(list)
    forwarded: list[ParsedMail] = attrs.Factory(list)
    reports: list[DeliveryReport] = attrs.Factory(list)
    original_message_id: str | None = None
    original_headers: dict[str, str] = attrs.Factory(dict)
    recovered: bool = False  # a multipart boundary was missing or wrong


def _walk(part: Message, acc: _Walk, depth: int, *, in_report: bool) -> None:
    if depth > _MAX_DEPTH:
        raise PayloadError(f"MIME structure nested deeper than {_MAX_DEPTH} levels",
                           channel=_CHANNEL)
    ctype = _content_type(part)
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        if in_report and ctype in _REPORT_TYPES:
            # The feed parser reads each field group of a report as a header block.
            blocks = ["\n".join(f"{k}: {_raw_header_text(v)}" for k, v in child.items())
                      for child in children if isinstance(child, Message)]
            acc.reports.extend(_delivery_reports("\n\n".join(blocks).encode(), ctype))
            return
        if ctype == "multipart/report":
            for child in children:
                if isinstance(child, Message):
                    _walk(child, acc, depth + 1, in_report=True)
            return
        if ctype == "message/rfc822" or ctype.startswith("message/"):
            for child in children:
                if isinstance(child, Message):
                    _nested_message(child, acc, depth, in_report=in_report)
            return
        if ctype == "multipart/alternative":
            # Alternatives say the same thing twice: keep one text and one html of them.
            inner = _Walk()
            for child in children:
                if isinstance(child, Message):
                    _walk(child, inner, depth + 1, in_report=in_report)
            acc.text.extend(inner.text[:1])
            acc.html.extend(inner.html[:1])
            acc.attachments.extend(inner.attachments)
            acc.forwarded.extend(inner.forwarded)
            acc.reports.extend(inner.reports)
            return
        for child in children:
            if isinstance(child, Message):
                _walk(child, acc, depth + 1, in_report=in_report)
        return
    if (ctype.startswith("multipart/") or (depth == 0 and part.get("Content-Type") is None)) \
            and _recover_multipart(part, acc, depth, ctype, in_report=in_report):
        return
    disposition = _disposition(part)
    filename = _filename(_raw_field(part, "content-type"), _raw_field(part, "content-disposition"))
    if in_report and ctype in _REPORT_TYPES:
        acc.reports.extend(_delivery_reports(_payload_bytes(part), ctype))
        return
    if in_report and ctype == "text/rfc822-headers":
        headers = _PARSER.parsebytes(_payload_bytes(part), headersonly=True)
        _remember_original(headers, acc)
        return
    # A named inline text part is the body only when nothing else is (Apple Mail
    # shows attached .txt files inline; they must not be glued onto the body).
    collected = acc.text if ctype == "text/plain" else acc.html
    is_body_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and (
        filename is None or (disposition == "inline" and not collected))
    if is_body_text:
        data = _payload_bytes(part)
        charset = _charset(part)
        if charset is None and ctype == "text/html":
            charset = html_meta_charset(data)
        content = decode_bytes(data, charset)
        if "\r" in content:
            content = content.replace("\r\n", "\n").replace("\r", "\n")
        (acc.text if ctype == "text/plain" else acc.html).append(content)
        return
    data = _payload_bytes(part)
    cid = part.get("Content-ID")
    acc.attachments.append(MimeAttachment(
        filename=filename,
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        inline=disposition == "inline" or (disposition is None and cid is not None),
        content_id=normalise_message_id(str(cid)) or None if cid is not None else None,
        data=data,
    ))


def _recover_multipart(part: Message, acc: _Walk, depth: int, ctype: str, *,
                       in_report: bool) -> bool:
    """Walk a multipart whose boundary the parser could not use; ``False`` if it is not one.

    See `omnicx.channels.email._recover`: the boundary the body really uses
    is found and the part parsed again; a "multipart" body without any
    delimiter is read as text. A message without a Content-Type header is
    only taken for MIME when its body starts with a delimiter line.
    """
    body = _payload_bytes(part)
    declared = ctype.startswith("multipart/")
    if not declared and not body.lstrip().startswith(b"--"):
        return False
    boundary = find_boundary(body)
    if boundary is not None and depth < _MAX_DEPTH:
        fixed = reparse_multipart(body, ctype.partition("/")[2] if declared else "mixed",
                                  boundary)
        if fixed.is_multipart():
            acc.recovered = True
            _walk(fixed, acc, depth + 1, in_report=in_report)
            return True
    if not declared or b"\x00" in body:
        return False  # binary data: an attachment, as before
    content = decode_bytes(body, _charset(part))
    if "\r" in content:
        content = content.replace("\r\n", "\n").replace("\r", "\n")
    if content.strip():
        (acc.html if looks_like_html(body) else acc.text).append(content)
    acc.recovered = True
    return True


def _nested_message(child: Message, acc: _Walk, depth: int, *, in_report: bool) -> None:
    if in_report:
        _remember_original(child, acc)
        return
    nested = _parse_message(child, depth + 1)
    acc.forwarded.append(nested)
    raw = child.as_bytes() if depth < _MAX_DEPTH else b""
    subject = nested.subject or "forwarded message"
    acc.attachments.append(MimeAttachment(
        filename=f"{subject}.eml",
        content_type="message/rfc822",
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        data=raw,
    ))


def _remember_original(headers: Message, acc: _Walk) -> None:
    index = _index(headers)
    if acc.original_message_id is None:
        acc.original_message_id = _first_id(_header(index, "message-id"))
    for name in ("from", "to", "subject", "date"):
        value = _decoded_header(index, name)
        if value is not None:
            acc.original_headers.setdefault(name, value)


def _first_id(value: str | None) -> str | None:
    ids = parse_message_ids(value)
    return ids[0] if ids else None


def _delivery_reports(data: bytes, ctype: str) -> Iterator[DeliveryReport]:
    """The per-recipient groups of a message/delivery-status part (RFC 3464)."""
    text = decode_bytes(data, "utf-8").replace("\r\n", "\n")
    if ctype == "message/disposition-notification":
        fields = _fields(text)
        disposition = fields.get("disposition", "")
        action = disposition.rsplit(";", 1)[-1].strip().split("/", 1)[0] or "displayed"
        yield DeliveryReport(recipient=_address_field(fields.get("final-recipient")),
                             action=action.lower(),
                             original_message_id=_first_id(fields.get("original-message-id")))
        return
    # The first group holds per-message fields; groups without an Action are skipped.
    for group in re.split(r"\n\s*\n", text):
        fields = _fields(group)
        words = fields.get("action", "").lower().split()
        if not words:
            continue
        recipient = _address_field(fields.get("final-recipient") or fields.get(
            "original-recipient"))
        yield DeliveryReport(
            recipient=recipient,
            action=words[0],
            status=(fields.get("status") or "").split(" ", 1)[0] or None,
            diagnostic=_diagnostic(fields.get("diagnostic-code")),
        )


def _fields(group: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    current: str | None = None
    for line in group.split("\n"):
        if line[:1] in (" ", "\t") and current is not None:
            fields[current] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            current = name.strip().lower()
            fields.setdefault(current, value.strip())
    return fields


def _address_field(value: str | None) -> str | None:
    if not value:
        return None
    _, _, address = value.partition(";")
    address = (address or value).strip().strip("<>").strip()
    return address or None


def _diagnostic(value: str | None) -> str | None:
    if not value:
        return None
    _, sep, text = value.partition(";")
    return " ".join((text if sep else value).split())[:1000] or None


# -- the message --------------------------------------------------------------------------

_KEPT_HEADERS = (
    "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "precedence", "x-precedence", "x-failed-recipients", "list-id", "list-unsubscribe",
    "return-path", "date", "x-mailer", "user-agent", "content-language", "x-ms-exchange-generated",
    "x-ms-exchange-organization-autoresponse", "delivered-to",
)


def _parse_message(msg: Message, depth: int) -> ParsedMail:
    acc = _Walk()
    _walk(msg, acc, depth, in_report=False)
    headers_index = _index(msg)
    date = parse_date(_header(headers_index, "date"))
    source = "date"
    if date is None:
        date = _received_date(headers_index)
        source = "received" if date is not None else "missing"
    # Several inline text parts (a body split around an inline image) are one text.
    text = "\n".join(acc.text) if acc.text else None
    html = acc.html[0] if acc.html else None
    if text is None and html is None:
        text = _preamble_text(msg)  # a mailer that wrote the body before the first part
    text_from_html = False
    if (text is None or not text.strip()) and html is not None:
        text = html_to_text(html)
        text_from_html = True
    report_type = None
    content_type = _content_type(msg)
    if content_type == "multipart/report":
        try:
            param = msg.get_param("report-type")
        except (ValueError, TypeError, IndexError):
            param = None
        report_type = param.lower() if isinstance(param, str) else "delivery-status"
    defects = tuple(sorted({type(d).__name__ for d in msg.defects}
                           | ({"RecoveredMultipartBoundary"} if acc.recovered else set())))
    headers: dict[str, str] = {}
    for name in _KEPT_HEADERS:
        value = _decoded_header(headers_index, name)
        if value is not None:
            headers[name] = value
    raw_id = _header(headers_index, "message-id")
    return ParsedMail(
        message_id=_first_id(raw_id) or _bare_id(raw_id),
        subject=_decoded_header(headers_index, "subject"),
        from_=_addresses(headers_index, "from"),
        to=_addresses(headers_index, "to"),
        cc=_addresses(headers_index, "cc"),
        bcc=_addresses(headers_index, "bcc"),
        reply_to=_addresses(headers_index, "reply-to"),
        sender=_addresses(headers_index, "sender"),
        date=date,
        date_source=source,
        in_reply_to=parse_message_ids(_header(headers_index, "in-reply-to")),
        references=parse_message_ids(_header(headers_index, "references")),
        thread_index=_header(headers_index, "thread-index"),
        thread_topic=_decoded_header(headers_index, "thread-topic"),
        text=text,
        html=html,
        text_from_html=text_from_html,
        attachments=tuple(acc.attachments),
        forwarded=tuple(acc.forwarded),
        content_type=content_type,
        auto_submitted=headers.get("auto-submitted"),
        headers=headers,
        report_type=report_type,
        reports=tuple(acc.reports),
        original_message_id=acc.original_message_id,
        original_headers=acc.original_headers,
        defects=defects,
    )


_MIME_BOILERPLATE = re.compile(
    r"^\s*(?:this is a multi-?part message in mime format\.?|this is a mime-encapsulated "
    r"message\.?|this message is in mime format\..*|this is a message in mime format\.?|"
    r"if you can see this message, your (?:mail|e-?mail) (?:client|reader).*)\s*$",
    re.IGNORECASE)


def _preamble_text(msg: Message) -> str | None:
    """Text written before a multipart's first part, when it is the only text there is.

    The standard preamble ("This is a multi-part message in MIME format.") is
    not text; anything else a broken mailer put there is the body.
    """
    preamble = msg.preamble if msg.is_multipart() else None
    if not isinstance(preamble, str) or not preamble.strip():
        return None
    raw = preamble.encode("utf-8", "surrogateescape")
    lines = [line for line in decode_bytes(raw, None).replace("\r\n", "\n").split("\n")
             if not _MIME_BOILERPLATE.match(line)]
    text = "\n".join(lines).strip()
    return text or None


def _bare_id(value: str | None) -> str | None:
    if not value:
        return None
    ident = normalise_message_id(value)
    return ident or None


def _body_digest(raw: bytes) -> str:
    """A digest of the body (after the header block): stable across relays and stores.

    Line endings and trailing blank lines are normalised: the same message read
    from an mbox (LF) and fetched by IMAP (CRLF) has the same digest.
    """
    data = raw.replace(b"\r\n", b"\n")
    index = data.find(b"\n\n")
    body = data[index + 2:] if index >= 0 else b""
    return hashlib.sha256(body.rstrip(b"\n")).hexdigest()


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one RFC 5322 message; raise `PayloadError` if it is not one."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise PayloadError(f"email body must be bytes, not {type(raw).__name__}",
                           channel=_CHANNEL)
    data = bytes(raw)
    if not data.strip():
        raise PayloadError("empty email message", channel=_CHANNEL)
    try:
        msg = _PARSER.parsebytes(data)
        parsed = _parse_message(msg, 0)
    except PayloadError:
        raise
    except RecursionError as exc:
        raise PayloadError("email structure is nested too deeply", channel=_CHANNEL) from exc
    except (ValueError, TypeError, LookupError, AttributeError, AssertionError,
            UnicodeError) as exc:
        raise PayloadError(f"cannot parse email: {type(exc).__name__}: {exc}",
                           channel=_CHANNEL) from exc
    if not msg.keys():
        raise PayloadError("not an email message: no header fields", channel=_CHANNEL)
    return attrs.evolve(parsed, body_digest=_body_digest(data))
