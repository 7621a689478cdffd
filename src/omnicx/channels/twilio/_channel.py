"""`Twilio`: SMS, MMS, WhatsApp-through-Twilio and voice calls of one Twilio account.

Inbound, `Twilio.verify` checks ``X-Twilio-Signature`` against the public
URL Twilio posts to (``webhook_url``; `Twilio.for_url` gives the adapter
for another URL of the same account, e.g. a status callback path), and
`Twilio.parse` turns the body into events (`omnicx.channels.twilio._parse`
has the rules). Outbound, `Twilio.send` creates a Message through the REST
API (`omnicx.channels.twilio._send`) and returns its ``SM...`` SID, so that
the status callbacks Twilio posts later attach to the interaction.

    twilio = Twilio(account_sid="AC...", auth_token="...", number="+41445551234",
                    webhook_url="https://crm.example.ch/hooks/twilio")
    history.receive(twilio, body=form_bytes, headers=headers)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

import attrs
import httpx

from ..._blobs import FileBlobStore
from ..._enums import AddressKind, Channel, Status
from ..._errors import ConfigurationError, PayloadError, SendError
from ..._events import ChannelEvent
from ..._models import Address, Attachment, Interaction
from ..._outbound import Outgoing, SendResult
from ...typing import BlobStore
from .._common import HttpClientOwner, get_header, require_secret
from ._form import decode_params, form_pairs, is_json
from ._parse import MESSAGE_STATUSES, parse_params
from ._send import MessagesAPI
from ._signature import (
    SIGNATURE_HEADER,
    body_sha256_url,
    compute_signature,
    url_variants,
    verify_signature,
)

__all__ = ["Twilio", "TwilioWhatsApp"]


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    prefix, sep, rest = value.partition(":")
    number = rest if sep and prefix.lower() == "whatsapp" else value
    try:
        return Address(kind=AddressKind.PHONE, value=number).value
    except PayloadError as exc:
        raise ConfigurationError(f"Twilio number= is not a phone number: {value!r}") from exc


@attrs.frozen(kw_only=True)
class Twilio(HttpClientOwner):
    """One Twilio account: its webhooks in, its Messages API out.

    ``account_sid`` (``AC...``) is the channel's account and scopes every
    message, call and recording SID. ``auth_token`` verifies webhooks and
    authorises API calls. ``number`` is the business number messages are
    sent from (or ``messaging_service_sid``); ``webhook_url`` the public URL
    Twilio posts to, exactly as configured in Twilio (the signature covers
    it). ``status_callback`` is the URL Twilio reports sent messages'
    statuses to. ``blobs`` is where `download` puts media and recordings.
    ``transport`` (an httpx transport such as `httpx.MockTransport`) and
    ``sleep`` are the seams tests use.
    """

    account_sid: str = attrs.field(validator=attrs.validators.min_len(1))
    auth_token: str | None = attrs.field(default=None, repr=False, validator=require_secret)
    number: str | None = attrs.field(default=None, converter=_phone)
    webhook_url: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    base_url: str = "https://api.twilio.com"
    transport: httpx.BaseTransport | None = attrs.field(default=None, repr=False, eq=False)
    timeout: float = 30.0
    max_retries: int = 4
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)
    blobs: BlobStore | None = attrs.field(default=None, repr=False, eq=False)
    max_media_bytes: int = 100 * 1024 * 1024
    channel: ClassVar[Channel] = Channel.SMS
    address_kinds: ClassVar[tuple[str, ...]] = ("phone",)

    @property
    def account(self) -> str:
        return self.account_sid

    @property
    def thread_key(self) -> str:
        """One SMS conversation per customer and business number (as inbound SMS thread)."""
        return f"twilio:sms:{self.number or '-'}"

    def for_url(self, url: str) -> Twilio:
        """This account's adapter for webhooks Twilio posts to ``url`` (another path)."""
        return attrs.evolve(self, webhook_url=url)

    def whatsapp(self) -> TwilioWhatsApp:
        """The same account and number as a WhatsApp sender (``whatsapp:`` addresses).

        ``history.send(twilio.whatsapp(), to=contact, text=...)`` records the
        message on the ``whatsapp`` channel, where the customer's WhatsApp
        messages through Twilio arrive. Inbound, it parses like `Twilio`.
        """
        return TwilioWhatsApp(**{f.name: getattr(self, f.name) for f in attrs.fields(Twilio)})

    # -- inbound ------------------------------------------------------------------------

    @property
    def _key(self) -> bytes:
        if not self.auth_token:
            raise ConfigurationError("Twilio needs auth_token to verify webhook signatures")
        return self.auth_token.encode()

    def _url(self, url: str | None) -> str:
        chosen = url or self.webhook_url
        if not chosen:
            raise ConfigurationError(
                "Twilio needs webhook_url (the public URL Twilio posts to) to verify signatures")
        return chosen

    def sign(self, body: bytes, *, url: str | None = None,
             content_type: str | None = None) -> dict[str, str]:
        """Headers that authenticate ``body`` as Twilio would send them (tests, examples)."""
        target = self._url(url)
        if is_json(body, content_type):
            signature = compute_signature(self._key, body_sha256_url(target, body))
            return {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
        pairs, _ = form_pairs(body)
        return {SIGNATURE_HEADER: compute_signature(self._key, target, pairs),
                "Content-Type": "application/x-www-form-urlencoded"}

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise `omnicx.SignatureError` unless ``X-Twilio-Signature`` signs this request."""
        url = self._url(None)
        signature = get_header(headers, SIGNATURE_HEADER)
        if is_json(body, get_header(headers, "Content-Type")):
            verify_signature(self._key, url_variants(body_sha256_url(url, body)), (), signature)
        else:
            verify_signature(self._key, url_variants(url), form_pairs(body)[0], signature)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        pairs = decode_params(body, get_header(headers, "Content-Type"))
        return parse_params(pairs, account_sid=self.account_sid)

    # -- outbound -----------------------------------------------------------------------

    @cached_property
    def _api(self) -> MessagesAPI:
        return MessagesAPI(account_sid=self.account_sid, auth_token=self.auth_token,
                           base_url=self.base_url, transport=self.transport,
                           timeout=self.timeout, max_retries=self.max_retries,
                           backoff=self.backoff, max_wait=self.max_wait, sleep=self.sleep)



    def download_attachments(self, interaction: Interaction, *,
                             store: BlobStore | None = None) -> tuple[Attachment, ...]:
        """Copy an MMS's or WhatsApp message's media from Twilio into the blob store.

        Each attachment's ``ref`` is the ``MediaUrl`` from the webhook; the
        bytes are fetched with the account's credentials (Twilio can require
        them for media) and stored under their SHA-256. Returns the stored
        attachments (``ref`` = blob key), in order.
        """
        return tuple(self.download(a.ref, store=store, filename=a.filename,
                                   content_type=a.content_type)
                     for a in interaction.attachments if a.ref)

    def download(self, url: str, *, store: BlobStore | None = None,
                 filename: str | None = None, content_type: str | None = None) -> Attachment:
        """Fetch one Twilio-hosted file (media, or a recording's ``url``) into a blob store.

        ``store`` defaults to the adapter's ``blobs``, else a `FileBlobStore`
        under ``./omnicx-media``. Files over ``max_media_bytes`` raise
        `omnicx.PayloadError`; Twilio's refusals `omnicx.SendError`.
        """
        data, served = self._api.fetch(url, max_bytes=self.max_media_bytes)
        kind = served or content_type or "application/octet-stream"
        target = store if store is not None else self.blobs
        if target is None:
            target = FileBlobStore("omnicx-media")
        key = target.put(data, content_type=kind)
        return Attachment(filename=filename, content_type=kind, size=len(data),
                          sha256=hashlib.sha256(data).hexdigest(), ref=key)

    def send(self, message: Outgoing) -> SendResult:
        """Send an SMS (an MMS with ``media_urls=[...]``); return its Message SID.

        ``message.options`` may hold ``media_urls`` (public URLs Twilio
        fetches), ``status_callback`` (overrides the adapter's),
        ``content_sid`` and ``content_variables`` (a Content API template)
        Raises `omnicx.SendError` with Twilio's error code
        (`omnicx.WindowClosedError` for WhatsApp's closed 24-hour window).
        """
        options = message.options
        whatsapp = self.channel == Channel.WHATSAPP
        prefix = "whatsapp:" if whatsapp else ""
        fields: dict[str, Any] = {"To": prefix + message.to.value}
        if self.messaging_service_sid:
            fields["MessagingServiceSid"] = self.messaging_service_sid
        elif self.number:
            fields["From"] = prefix + self.number
        else:
            raise ConfigurationError("Twilio needs number= or messaging_service_sid= to send")
        if message.text:
            fields["Body"] = message.text
        media = options.get("media_urls") or ()
        if isinstance(media, str):
            media = (media,)
        if media:
            fields["MediaUrl"] = [str(url) for url in media]
        if options.get("content_sid"):
            fields["ContentSid"] = str(options["content_sid"])
            variables = options.get("content_variables")
            if variables is not None:
                fields["ContentVariables"] = (variables if isinstance(variables, str)
                                              else json.dumps(variables))
        callback = options.get("status_callback") or self.status_callback
        if callback:
            fields["StatusCallback"] = str(callback)
        if not (message.text or media or options.get("content_sid")):
            raise SendError("a Twilio message needs text, media_urls or content_sid",
                            channel=self.channel.value, code=21619)
        document = self._api.create_message(fields)
        sid = document.get("sid")
        if not isinstance(sid, str) or not sid:
            raise SendError("Twilio accepted the message but returned no sid",
                            channel=self.channel.value)
        raw_status = str(document.get("status") or "queued")
        data = {key: document[key] for key in ("status", "num_segments", "num_media",
                                                "messaging_service_sid", "direction", "from")
                if document.get(key) is not None}
        return SendResult(
            external_id=sid,
            status=MESSAGE_STATUSES.get(raw_status, Status.PENDING),
            message_type=("whatsapp" if whatsapp else "mms" if media else "sms"),
            text=document.get("body") if isinstance(document.get("body"), str) else None,
            data=data,
        )


@attrs.frozen(kw_only=True)
class TwilioWhatsApp(Twilio):
    """`Twilio` sending through Twilio's WhatsApp sender: see `Twilio.whatsapp`."""

    channel: ClassVar[Channel] = Channel.WHATSAPP

    @property
    def thread_key(self) -> str:
        """One WhatsApp conversation per customer and number (as inbound messages thread)."""
        return f"twilio:whatsapp:{self.number or '-'}"
