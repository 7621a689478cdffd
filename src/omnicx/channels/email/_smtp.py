"""Outbound email: build a MIME message for an `Outgoing` and submit it by SMTP.

The message gets a fresh ``Message-ID`` in the mailbox's domain (the
external id the interaction is recorded under, so a customer's reply threads
onto it), ``In-Reply-To``/``References`` when it answers a thread, and a
``Re:`` subject derived from the message it answers. The text and HTML
versions go out as ``multipart/alternative``.

`smtplib` and socket errors become `SendError`; ``retryable`` is true for
connection failures and 4xx replies, false for 5xx rejections.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid

import attrs

from ..._errors import ConfigurationError, SendError
from ..._outbound import Outgoing
from ._mime import normalise_message_id

__all__ = ["SMTPSettings", "build_message", "submit"]

_CHANNEL = "email"


@attrs.frozen(kw_only=True)
class SMTPSettings:
    """Where and how to submit mail.

    ``security`` is ``"starttls"`` (port 587), ``"ssl"`` (implicit TLS,
    port 465) or ``"none"`` (a local relay). Credentials are optional.
    """

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    security: str = attrs.field(default="starttls")
    timeout: float = 30.0
    local_hostname: str | None = None

    @security.validator
    def _check_security(self, _attribute: object, value: str) -> None:
        if value not in ("starttls", "ssl", "none"):
            raise ConfigurationError(
                f"SMTP security must be 'starttls', 'ssl' or 'none', not {value!r}")


def _reply_subject(message: Outgoing) -> str:
    if message.subject:
        return message.subject
    previous = message.reply_to.subject if message.reply_to is not None else None
    if not previous:
        return ""
    # One "Re: " in front, never "Re: Re: ...".
    return previous if previous[:3].casefold() == "re:" else f"Re: {previous}"


def build_message(
    message: Outgoing, *, mailbox: str, display_name: str | None = None
) -> tuple[EmailMessage, str]:
    """The MIME message for ``message`` and its Message-ID (without brackets)."""
    if not message.text and not message.html:
        raise SendError("an email needs text or html", channel=_CHANNEL)
    domain = mailbox.rpartition("@")[2] or "localhost"
    msgid = make_msgid(domain=domain)
    mime = EmailMessage(policy=SMTP_POLICY)
    mime["Message-ID"] = msgid
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["From"] = formataddr((display_name, mailbox)) if display_name else mailbox
    mime["To"] = formataddr((message.to.name, message.to.value)) if message.to.name \
        else message.to.value
    subject = _reply_subject(message)
    if subject:
        mime["Subject"] = subject
    parent = message.reply_to.external_id if message.reply_to is not None else None
    # The parent's own References (kept by the Email parser) carry the thread's history.
    inherited = message.reply_to.data.get("references", []) if message.reply_to else []
    references: list[str] = []
    for ref in [*inherited, *message.references]:
        ident = normalise_message_id(str(ref)) if ref else ""
        if ident and ident not in references:
            references.append(ident)
    if parent:
        if parent in references:
            references.remove(parent)
        references.append(parent)
    if parent is None and references:
        parent = references[-1]
    if parent:
        mime["In-Reply-To"] = f"<{parent}>"
        mime["References"] = " ".join(f"<{r}>" for r in references)
    mime["X-Omnicx-Client-Id"] = message.client_id
    if message.text:
        mime.set_content(message.text)
        if message.html:
            mime.add_alternative(message.html, subtype="html")
    elif message.html:
        mime.set_content(message.html, subtype="html")
    return mime, normalise_message_id(msgid)


def submit(settings: SMTPSettings, mime: EmailMessage, *, sender: str) -> None:
    """Deliver ``mime`` to the SMTP server; raise `SendError` when it is refused."""
    try:
        client: smtplib.SMTP
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                      local_hostname=settings.local_hostname,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout,
                                  local_hostname=settings.local_hostname)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.username:
                client.login(settings.username, settings.password or "")
            refused = client.send_message(mime, from_addr=sender)
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"SMTP server refused the message: {exc.smtp_code} {exc.smtp_error!r}",
                        channel=_CHANNEL, code=exc.smtp_code,
                        retryable=400 <= exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendError(f"SMTP server refused every recipient: {exc.recipients!r}",
                        channel=_CHANNEL, code=codes[0] if codes else None,
                        retryable=all(400 <= c < 500 for c in codes)) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"cannot reach SMTP server {settings.host}:{settings.port}: {exc}",
                        channel=_CHANNEL, retryable=True) from exc
    if refused:
        raise SendError(f"SMTP server refused recipients: {refused!r}", channel=_CHANNEL,
                        code=next(iter(refused.values()))[0])
