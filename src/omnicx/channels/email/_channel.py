"""Email: RFC 5322 messages from a mailbox, in and out.

``Email(mailbox="support@example.com", also=["help@example.com"])`` parses
one raw message (``body``; ``headers`` are ignored, mail carries its own)
into events:

- a `MessageEvent` per message, external id = the Message-ID without angle
  brackets (a stable synthetic ``omnicx.<hash>@synthetic.invalid`` when the
  message has none). Mail from the mailbox or one of its aliases is
  outbound and its customer is the first To/Cc/Bcc address outside them;
  everything else is inbound from the From address.
  ``text`` is the customer's new text, without quoted history and
  signature; ``data`` keeps ``full_text`` (the whole text body),
  ``quoted``, ``signature`` and the email details listed in
  ``docs/channels/email.md``;
- an `UpdateEvent` (status ``failed``, ``delivered`` or ``read``) on the
  original outbound message for a bounce, a delivery status notification or
  a read receipt (``multipart/report``), and for the classic
  MAILER-DAEMON bounces that carry the original message (``delayed`` for a
  daemon's delay warning). A report that cannot name its original (no
  Message-ID came back) targets ``unknown-original:<report id>``: stored,
  listed as a gap, never a message or a contact of MAILER-DAEMON;
- auto-replies (``Auto-Submitted``, ``X-Autoreply``, Exchange and
  out-of-office subjects) are messages with ``message_type="auto_reply"``
  and ``data["auto_reply"]`` naming the signal.

Sending (`Email.send`) needs ``smtp=SMTPSettings(...)``; fetching from IMAP
needs ``imap=IMAPSettings(...)`` (see `omnicx.channels.email._imap`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from ..._enums import AddressKind, Channel, Direction, EventKind, Kind, Status
from ..._errors import ConfigurationError, OmnicxError, PayloadError, SendError
from ..._events import ChannelEvent, MessageEvent, UpdateEvent
from ..._identity import normalise_email
from ..._models import Address, Attachment
from ..._outbound import Outgoing, SendResult
from ._imap import IMAPSettings
from ._mime import ParsedMail, parse_mail, parse_message_ids
from ._quotes import split_reply
from ._smtp import SMTPSettings, build_message, submit
from ._threading import ancestry, subject_key, thread_index_root

__all__ = ["Email", "IMAPSettings", "SMTPSettings"]

_CHANNEL = "email"
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered mail|delivery status notification|delivery failure|"
    r"failure notice|returned mail|mail delivery failed|delivery has failed|"
    r"non-?deliverable|could not be delivered|unable to deliver|delivery failed|"
    r"unzustellbar|nicht zustellbar|non remis|non distribuable|échec de la remise|"
    r"no se puede entregar|no entregado|non recapitabile|onbestelbaar|"
    r"kan niet worden bezorgd|olevererbart|ikke leveret|kunne ikke leveres|"
    r"could not send message|delivery (?:status|delay)|delayed mail|"
    r"zustellung verz[öo]gert|remise diff[ée]r[ée]e)",
    re.IGNORECASE)
# Warnings that a message is still queued: the original is delayed, not lost.
_DELAY_SUBJECT = re.compile(
    r"\(delay\)|delayed mail|delivery delay|could not send message for past|"
    r"still being retried|warning: message|zustellung verz[öo]gert|remise diff[ée]r[ée]e",
    re.IGNORECASE)
_OOO_SUBJECT = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response)|out of (?:the )?office|autoreply|"
    r"automatische antwort|abwesenheitsnotiz|abwesend|réponse automatique|absence|"
    r"respuesta automática|risposta automatica|fuori sede|afwezig|frånvaro)",
    re.IGNORECASE)
_BODY_MSGID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_DEFAULT_WINDOW = dt.timedelta(days=30)


def _email_list(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(normalise_email(v) for v in values)


def _smtp_settings(value: SMTPSettings | Mapping[str, Any] | None) -> SMTPSettings | None:
    # A mapping comes from a TOML channel file (``omnicx serve --channels``).
    return SMTPSettings(**value) if isinstance(value, Mapping) else value


def _imap_settings(value: IMAPSettings | Mapping[str, Any] | None) -> IMAPSettings | None:
    if isinstance(value, Mapping):
        options = dict(value)
        if "folders" in options:
            options["folders"] = tuple(options["folders"])
        return IMAPSettings(**options)
    return value


@attrs.frozen(kw_only=True)
class Email:
    """One mailbox (the channel's account) and its aliases.

    ``subject_window`` bounds the subject fallback: a mail without usable
    References joins the contact's conversation with the same normalised
    subject only if that conversation was active within the window.
    ``separate_quotes=False`` keeps the whole body as ``text``.
    """

    mailbox: str = attrs.field(converter=normalise_email)
    also: tuple[str, ...] = attrs.field(default=(), converter=_email_list)
    display_name: str | None = None
    smtp: SMTPSettings | None = attrs.field(default=None, converter=_smtp_settings)
    imap: IMAPSettings | None = attrs.field(default=None, converter=_imap_settings)
    subject_window: dt.timedelta = _DEFAULT_WINDOW
    separate_quotes: bool = True
    channel: ClassVar[Channel] = Channel.EMAIL
    address_kinds: ClassVar[tuple[str, ...]] = (AddressKind.EMAIL.value,)  # History.send

    @property
    def account(self) -> str:
        return self.mailbox

    @property
    def addresses(self) -> frozenset[str]:
        """The mailbox and its aliases, normalised."""
        return frozenset((self.mailbox, *self.also))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Mail carries no webhook signature; authenticity is the transport's business."""

    def parse(
        self, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Sequence[ChannelEvent]:
        mail = parse_mail(body)
        try:
            return self._events(mail)
        except OmnicxError:
            raise
        except (ValueError, TypeError, LookupError, AttributeError, UnicodeError) as exc:
            raise PayloadError(f"cannot read email: {type(exc).__name__}: {exc}",
                               channel=_CHANNEL) from exc

    def parse_mail(self, body: bytes) -> ParsedMail:
        """The decoded message, for callers that want more than the events."""
        return parse_mail(body)

    # -- sending ---------------------------------------------------------------------

    def send(self, message: Outgoing) -> SendResult:
        """Submit ``message`` by SMTP; the result's external id is the new Message-ID."""
        if self.smtp is None:
            raise ConfigurationError("Email(smtp=SMTPSettings(...)) is needed to send mail")
        if message.to.kind != AddressKind.EMAIL:
            raise SendError(f"cannot email a {message.to.kind} address", channel=_CHANNEL)
        mime, message_id = build_message(message, mailbox=self.mailbox,
                                         display_name=self.display_name)
        submit(self.smtp, mime, sender=self.mailbox)
        return SendResult(
            external_id=message_id,
            status=Status.SENT,
            subject=str(mime["Subject"]) if mime["Subject"] else None,
            data={"message_id": f"<{message_id}>",
                  "in_reply_to": str(mime["In-Reply-To"]) if mime["In-Reply-To"] else None},
        )

    # -- parsing ---------------------------------------------------------------------

    def _events(self, mail: ParsedMail) -> list[ChannelEvent]:
        updates = self._report_updates(mail)
        if updates:
            return list(updates)
        return [self._message(mail)]

    def _address(self, pair: tuple[str, str]) -> Address | None:
        name, value = pair
        try:
            return Address(kind=AddressKind.EMAIL, value=value, name=name or None)
        except OmnicxError:
            return None

    def _valid(self, pairs: Iterable[tuple[str, str]]) -> list[Address]:
        return [a for a in (self._address(p) for p in pairs) if a is not None]

    def _message_id(self, mail: ParsedMail) -> tuple[str, bool]:
        if mail.message_id:
            return mail.message_id, False
        basis = "\x00".join((
            ",".join(a for _, a in mail.from_), ",".join(a for _, a in mail.to),
            mail.headers.get("date", ""), mail.subject or "", mail.body_digest,
        ))
        digest = hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"omnicx.{digest}@synthetic.invalid", True

    def _message(self, mail: ParsedMail) -> MessageEvent:
        ours = self.addresses
        senders = self._valid(mail.from_) or self._valid(mail.sender) or self._valid(
            [("", mail.headers.get("return-path", ""))])
        if not senders:
            raise PayloadError("email has no valid From address", channel=_CHANNEL)
        sender = senders[0]
        to, cc, bcc = self._valid(mail.to), self._valid(mail.cc), self._valid(mail.bcc)
        recipients = tuple(to + cc + bcc)
        if sender.value in ours:
            customers = [a for a in recipients if a.value not in ours]
            direction = Direction.OUTBOUND if customers else Direction.INTERNAL
            contact = customers[0] if customers else sender
        else:
            direction, contact = Direction.INBOUND, sender
        message_id, synthetic = self._message_id(mail)
        refs, parent = ancestry(message_id, mail.references, mail.in_reply_to)
        full_text = mail.text
        data: dict[str, Any] = {"message_id": message_id, "date_source": mail.date_source}
        text = full_text
        if full_text is not None:
            data["full_text"] = full_text
            if self.separate_quotes:
                split = split_reply(full_text)
                text = split.text
                if split.quoted:
                    data["quoted"] = split.quoted
                if split.signature:
                    data["signature"] = split.signature
        if synthetic:
            data["synthetic_message_id"] = True
        if mail.text_from_html:
            data["text_from_html"] = True
        if cc:
            data["cc"] = [a.value for a in cc]
        reply_addresses = self._valid(mail.reply_to)
        if reply_addresses:
            data["reply_to_addresses"] = [a.value for a in reply_addresses]
        if mail.in_reply_to:
            data["in_reply_to"] = list(mail.in_reply_to)
        if mail.references:
            data["references"] = list(mail.references)
        root = thread_index_root(mail.thread_index)
        if root:
            data["thread_index"] = root
        if mail.thread_topic:
            data["thread_topic"] = mail.thread_topic
        if mail.forwarded:
            data["forwarded"] = [_summary(f) for f in mail.forwarded]
        if mail.defects:
            data["defects"] = list(mail.defects)
        if mail.headers.get("list-id"):
            data["list_id"] = mail.headers["list-id"]
        auto = _auto_reply(mail)
        if auto:
            data["auto_reply"] = auto
        key = subject_key(mail.thread_topic or mail.subject)
        return MessageEvent(
            channel=Channel.EMAIL,
            account=self.mailbox,
            external_id=message_id,
            direction=direction,
            contact=(contact,),
            contact_name=contact.name,
            kind=Kind.MESSAGE,
            message_type="auto_reply" if auto else "email",
            occurred_at=mail.date,
            sender=sender,
            recipients=recipients,
            subject=mail.subject,
            text=text,
            html=mail.html,
            attachments=tuple(
                Attachment(filename=a.filename, content_type=a.content_type, size=a.size,
                           sha256=a.sha256, ref=f"cid:{a.content_id}" if a.content_id else None)
                for a in mail.attachments),
            attachment_bytes={a.sha256: a.data for a in mail.attachments if a.data},
            reply_to=parent,
            thread_refs=refs,
            thread_key=f"subject:{key}" if key else None,
            thread_window=self.subject_window if key else None,
            status=Status.SENT if direction is Direction.OUTBOUND else None,
            data=data,
        )

    # -- bounces, delivery reports and read receipts ---------------------------------------

    def _report_updates(self, mail: ParsedMail) -> list[UpdateEvent]:
        """Status updates of a report or bounce; ``[]`` when ``mail`` is neither.

        A report whose original cannot be named (its enclosed copy has no
        Message-ID, or no copy came back) is still a report, never a message
        from MAILER-DAEMON: its update targets ``unknown-original:<report id>``,
        which no interaction has, so the ingest stores it and opens a gap
        (``status_without_message``) on the failed recipient's contact, with
        what is known of the original in ``data["original"]``.
        """
        if mail.report_type is None and not self._looks_like_bounce(mail):
            return []  # the common case, decided before any work
        report_id, _ = self._message_id(mail)
        fallback = mail.original_message_id or _original_id(mail)
        unknown = f"unknown-original:{report_id}"
        if mail.report_type is not None and mail.reports:
            updates: list[UpdateEvent] = []
            for index, report in enumerate(mail.reports):
                status = _report_status(report.action)
                if status is None:
                    continue
                target = report.original_message_id or fallback
                error = " ".join(x for x in (report.status, report.diagnostic) if x) or None
                data: dict[str, Any] = {
                    "action": report.action, "recipient": report.recipient,
                    "status_code": report.status, "diagnostic": report.diagnostic,
                    "report_message_id": report_id}
                if target is None:
                    data["original"] = _original_summary(mail)
                updates.append(UpdateEvent(
                    channel=Channel.EMAIL,
                    account=self.mailbox,
                    target=target or unknown,
                    event_id=f"{mail.report_type}:{report_id}:{index}",
                    kind=EventKind.STATUS,
                    status=status,
                    occurred_at=mail.date,
                    error=error if status == Status.FAILED else None,
                    contact=tuple(self._valid([("", report.recipient or "")])),
                    data=data,
                ))
            if updates:
                return updates
        if not self._looks_like_bounce(mail):
            return []
        failed = [r.strip() for r in mail.headers.get("x-failed-recipients", "").split(",")
                  if r.strip()]
        if not failed:
            failed = [r.recipient for r in mail.reports if r.recipient]
        if not failed:
            failed = _failed_in_text(mail.text or "")
        if not failed and fallback is None:
            failed = [a for _, a in _original_recipients(mail)]
        diagnostic = _first_diagnostic(mail.text or "") or next(
            (r.diagnostic for r in mail.reports if r.diagnostic), None)
        bounce: dict[str, Any] = {"failed_recipients": failed, "report_message_id": report_id}
        if fallback is None:
            bounce["original"] = _original_summary(mail)
        delayed = bool(_DELAY_SUBJECT.search(mail.subject or ""))
        return [UpdateEvent(
            channel=Channel.EMAIL,
            account=self.mailbox,
            target=fallback or unknown,
            event_id=f"bounce:{report_id}",
            kind=EventKind.STATUS,
            status=Status("delayed") if delayed else Status.FAILED,
            occurred_at=mail.date,
            error=None if delayed else diagnostic or mail.subject or "bounced",
            contact=tuple(self._valid([("", f) for f in failed[:1]])),
            data=bounce,
        )]

    def _looks_like_bounce(self, mail: ParsedMail) -> bool:
        if mail.report_type == "delivery-status":
            return True
        sender = mail.from_[0][1].lower() if mail.from_ else ""
        from_daemon = sender.partition("@")[0] in _DAEMONS
        null_path = mail.headers.get("return-path", "").strip() in ("<>", "")
        subject_says = bool(_BOUNCE_SUBJECT.search(mail.subject or ""))
        return subject_says and (from_daemon or null_path or
                                 "x-failed-recipients" in mail.headers)


def _report_status(action: str) -> Status | None:
    if action == "failed":
        return Status.FAILED
    if action in ("delivered", "relayed", "expanded"):
        return Status.DELIVERED
    if action in ("displayed", "dispatched"):
        return Status.READ
    if action == "delayed":
        return Status("delayed")
    return None


def _original_id(mail: ParsedMail) -> str | None:
    for nested in mail.forwarded:
        if nested.message_id:
            return nested.message_id
    match = _BODY_MSGID.search(mail.text or "")
    if match:
        ids = parse_message_ids(match.group(1))
        return ids[0] if ids else None
    return None


_FAILED_LINE = re.compile(
    r"^(?:\s*<([^\s<>@]{1,200}@[^\s<>]{1,200})>\s*:?|\s{2,}([^\s<>@:]{1,200}@[^\s<>:]{1,200}))\s*"
    r"(?::.*)?$")
_COPY_MARKER = re.compile(r"^(?:-{2,}.*(?:copy|original|below)|Original message|"
                          r"Return-Path:|Received:|From:)", re.IGNORECASE)


def _failed_in_text(text: str) -> list[str]:
    """Recipients a classic bounce lists before its copy of the message (qmail, exim, postfix)."""
    found: list[str] = []
    for line in text.splitlines()[:80]:
        if _COPY_MARKER.match(line.strip()):
            break
        match = _FAILED_LINE.match(line)
        if match:
            address = match.group(1) or match.group(2)
            if address not in found:
                found.append(address)
    return found


def _original_recipients(mail: ParsedMail) -> tuple[tuple[str, str], ...]:
    for nested in mail.forwarded:
        if nested.to:
            return nested.to
    return ()


def _original_summary(mail: ParsedMail) -> dict[str, Any]:
    """What a bounce says about an original it cannot name by Message-ID."""
    if mail.forwarded:
        summary = _summary(mail.forwarded[0])
        summary["to"] = [a for _, a in mail.forwarded[0].to]
        return {k: v for k, v in summary.items() if v}
    return {k: v for k, v in mail.original_headers.items() if v}


def _first_diagnostic(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"^(?:\d{3}[ -]|[45]\.\d{1,3}\.\d{1,3})", stripped) or re.search(
                r"\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b", stripped):
            return stripped[:500]
    return None


def _auto_reply(mail: ParsedMail) -> str | None:
    auto = (mail.auto_submitted or "").lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto.split(';')[0].strip()}"
    for name in ("x-autoreply", "x-autorespond", "x-ms-exchange-organization-autoresponse"):
        if name in mail.headers:
            return name
    if mail.headers.get("x-auto-response-suppress", "").lower() in ("all", "oof") and \
            _OOO_SUBJECT.search(mail.subject or ""):
        return "out-of-office"
    precedence = mail.headers.get("precedence", "").lower()
    if precedence == "auto_reply":
        return "precedence: auto_reply"
    if _OOO_SUBJECT.search(mail.subject or ""):
        return "subject"
    return None


def _summary(mail: ParsedMail) -> dict[str, Any]:
    return {
        "message_id": mail.message_id,
        "from": mail.from_[0][1] if mail.from_ else None,
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else None,
    }
