"""WhatsApp: Meta's WhatsApp Cloud API (Graph API), inbound and outbound.

Inbound, the adapter verifies ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw
body under the app secret, compared in constant time), answers the GET
subscription handshake (`WhatsApp.handshake`) and parses webhook bodies into
events (`omnicx.channels.meta._whatsapp_parse` has the format and its rules).

Outbound, `WhatsApp.send` posts to ``/{phone_number_id}/messages`` through
httpx with retries and backoff (`omnicx.channels.meta._whatsapp_send`), refuses
free-form messages outside the 24-hour customer-service window, and returns
the provider's ``wamid`` so that status webhooks attach to the interaction.
`WhatsApp.mark_read`, `WhatsApp.upload_media` and `WhatsApp.download_media`
cover the rest of what a CRM needs.

    wa = WhatsApp(app_secret="...", verify_token="...",
                  access_token="...", phone_number_id="106540352242922")
    status, body = wa.handshake(request.query_params)       # GET
    history.receive(wa, body=raw_body, headers=headers)       # POST
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import httpx

from ..._blobs import FileBlobStore
from ..._enums import Channel, Status
from ..._errors import PayloadError, SendError
from ..._events import ChannelEvent
from ..._models import Attachment, utc
from ..._outbound import Outgoing, SendResult
from ...typing import BlobStore
from .._common import HttpClientOwner, require_secret
from ._graph import (
    SIGNATURE_HEADER,
    GraphAPI,
    Handshake,
    answer_handshake,
    app_key,
    sign_body,
    verify_signature,
)
from ._whatsapp_parse import _hex_digest, decode_body, parse_document
from ._whatsapp_send import (
    THROTTLING_CODES,
    WINDOW,
    check_window,
    error_from_object,
    message_payload,
)
from ._window import last_inbound

if TYPE_CHECKING:
    from ..._history import History
    from ..._models import Contact, Interaction

__all__ = ["SIGNATURE_HEADER", "Handshake", "WhatsApp"]

DEFAULT_API_VERSION = "v23.0"
_CHANNEL = "whatsapp"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class WhatsApp(HttpClientOwner):
    """One WhatsApp business phone number on the Cloud API.

    ``phone_number_id`` is the channel's account. ``app_secret`` verifies
    webhooks, ``verify_token`` answers the subscription handshake,
    ``access_token`` authorises Graph API calls. ``transport`` (an httpx
    transport, e.g. `httpx.MockTransport`) and ``sleep`` / ``clock`` are the
    seams tests use; ``blobs`` is where downloaded media go (a
    `FileBlobStore` under ``./omnicx-media`` if not given).
    """

    _client_attribute: ClassVar[str] = "_graph"

    phone_number_id: str = attrs.field(validator=attrs.validators.min_len(1))
    app_secret: str | bytes | None = attrs.field(default=None, repr=False,
                                                 validator=require_secret)
    verify_token: str | None = attrs.field(default=None, repr=False, validator=require_secret)
    access_token: str | None = attrs.field(default=None, repr=False)
    api_version: str = DEFAULT_API_VERSION
    base_url: str = "https://graph.facebook.com"
    transport: httpx.BaseTransport | None = attrs.field(default=None, repr=False, eq=False)
    timeout: float = 30.0
    max_retries: int = 4
    backoff: float = 1.0
    throttle_backoff: float = 5.0
    max_wait: float = 300.0
    max_media_bytes: int = 100 * 1024 * 1024
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)
    clock: Callable[[], dt.datetime] = attrs.field(default=_utcnow, repr=False, eq=False)
    blobs: BlobStore | None = attrs.field(default=None, repr=False, eq=False)
    channel: ClassVar[Channel] = Channel.WHATSAPP

    # Send to a phone number when the contact has one, else to the user id.
    address_kinds: ClassVar[tuple[str, ...]] = ("phone", "whatsapp")

    @property
    def account(self) -> str:
        return self.phone_number_id

    @property
    def thread_key(self) -> str:
        """One conversation per contact and business number (``History.send`` uses it)."""
        return f"wa:{self.phone_number_id}"

    # -- inbound ----------------------------------------------------------------

    @property
    def _key(self) -> bytes:
        return app_key(self.app_secret, "WhatsApp")

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate ``body`` as Meta would send them (tests, examples)."""
        return sign_body(self._key, body)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        verify_signature(self._key, body, headers)

    def handshake(self, params: Mapping[str, Any]) -> Handshake:
        """Answer ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``.

        Returns ``(200, challenge)`` when the token matches, ``(403, ...)``
        otherwise. ``params`` is the query string as a mapping; list values
        (``parse_qs``) are accepted.
        """
        return answer_handshake(self.verify_token, params)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return parse_document(decode_body(body), self.phone_number_id)

    # -- the customer-service window --------------------------------------------

    def window_closes_at(self, last_inbound_at: dt.datetime | None) -> dt.datetime | None:
        """When free-form messages stop being allowed (``None``: no inbound yet)."""
        return None if last_inbound_at is None else utc(last_inbound_at) + WINDOW

    def window_open(self, last_inbound_at: dt.datetime | None) -> bool:
        """Whether a free-form (non-template) message may be sent now."""
        closes = self.window_closes_at(last_inbound_at)
        return closes is not None and self.clock() < closes

    def window_for(self, history: History, contact: Contact | int) -> dt.datetime | None:
        """When the window with ``contact`` on this number closes; ``None`` if it is closed.

        Looks for the customer's newest inbound WhatsApp message to this
        business number within the last 24 hours, through the public
        timeline (merged contacts included).
        """
        last = last_inbound(history, contact, Channel.WHATSAPP.value, self.phone_number_id,
                            self.clock() - WINDOW)
        return self.window_closes_at(last)

    # -- outbound ---------------------------------------------------------------

    @cached_property
    def _graph(self) -> GraphAPI:
        return GraphAPI(
            channel=_CHANNEL,
            classify=error_from_object,
            throttling_codes=THROTTLING_CODES,
            access_token=self.access_token,
            api_version=self.api_version,
            base_url=self.base_url,
            transport=self.transport,
            timeout=self.timeout,
            max_retries=self.max_retries,
            backoff=self.backoff,
            throttle_backoff=self.throttle_backoff,
            max_wait=self.max_wait,
            sleep=self.sleep,
        )



    def send(self, message: Outgoing) -> SendResult:
        """Send ``message``; return its ``wamid`` or raise `omnicx.SendError`.

        ``message.options`` may hold ``template`` (a name with ``language``
        and ``components`` beside it, or a mapping with all three), ``media``
        (``{"type": "image", "link": ...}``, ``{"type": ..., "id": ...}`` or
        ``{"type": ..., "data": bytes, "content_type": ..., "filename": ...}``
        to upload first), ``interactive`` (the Cloud API object as is),
        ``preview_url`` and ``tracker`` (echoed back in status webhooks;
        defaults to the client id). Anything but a template is refused with
        `omnicx.WindowClosedError` outside the 24-hour window.
        """
        now = self.clock()
        media = message.options.get("media")
        media_id = None
        if isinstance(media, Mapping) and media.get("data") is not None and not media.get("id"):
            check_window(message, now)  # no point uploading what we may not send
            media_id = self.upload_media(
                bytes(media["data"]),
                content_type=str(media.get("content_type") or "application/octet-stream"),
                filename=media.get("filename"),
            )
        body, kind = message_payload(message, now=now, media_id=media_id)
        response = self._graph.request(
            "POST", f"{self.phone_number_id}/messages", json_body=body, idempotent=False
        )
        document = self._graph.json(response)
        messages = document.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if not isinstance(wamid, str) or not wamid:
            raise SendError("the Graph API accepted the message but returned no id",
                            channel=_CHANNEL)
        data: dict[str, Any] = {"request": {k: v for k, v in body.items() if k != "to"}}
        contacts = document.get("contacts")
        if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
            data["contact"] = contacts[0]
        if isinstance(first, dict) and first.get("message_status"):
            data["message_status"] = first["message_status"]
        if kind in ("image", "video", "document"):
            text = body[kind].get("caption")
        else:
            text = message.text if kind in ("text", "interactive") else None
        return SendResult(
            external_id=wamid,
            status=Status.SENT,
            occurred_at=now,
            message_type=kind,
            text=text,
            data=data,
        )

    def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Mark an inbound message (and those before it) read; optionally show typing."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        response = self._graph.request(
            "POST", f"{self.phone_number_id}/messages", json_body=body, idempotent=True
        )
        document = self._graph.json(response)
        if document.get("success") is False:
            raise SendError(f"could not mark {message_id} as read", channel=_CHANNEL)

    def upload_media(
        self, data: bytes, *, content_type: str, filename: str | None = None
    ) -> str:
        """Upload ``data`` to ``/{phone_number_id}/media``; return the media id."""
        response = self._graph.request(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (filename or "upload", data, content_type)},
            idempotent=True,
        )
        media_id = self._graph.json(response).get("id")
        if not isinstance(media_id, str) or not media_id:
            raise SendError("the Graph API stored the media but returned no id", channel=_CHANNEL)
        return media_id

    def download_attachments(
        self, interaction: Interaction, *, store: BlobStore | None = None
    ) -> tuple[Attachment, ...]:
        """Download every attachment of an inbound WhatsApp interaction.

        Each attachment's ``ref`` is the media id from the webhook and its
        ``sha256`` the hash the webhook announced, which the bytes must match.
        Returns the stored attachments (``ref`` = blob key), in order, with
        the original file names.
        """
        return tuple(
            self.download_media(a.ref, store=store, expected_sha256=a.sha256,
                                filename=a.filename)
            for a in interaction.attachments
            if a.ref
        )

    def download_media(
        self,
        media_id: str,
        *,
        store: BlobStore | None = None,
        expected_sha256: str | None = None,
        filename: str | None = None,
    ) -> Attachment:
        """Fetch media ``media_id`` into the blob store; return its `Attachment`.

        ``GET /{media-id}`` gives a short-lived URL, its size and hash; the
        bytes are fetched with the bearer token, checked against both (and
        against ``expected_sha256``, e.g. the webhook's hash, hex or base64),
        and stored under their SHA-256. A mismatch raises `PayloadError`.
        """
        graph = self._graph
        meta = graph.json(graph.request("GET", media_id, idempotent=True))
        url = meta.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise SendError(f"media {media_id}: no https download URL", channel=_CHANNEL)
        declared = meta.get("file_size")
        if isinstance(declared, str) and declared.isdigit():
            declared = int(declared)
        if isinstance(declared, int) and declared > self.max_media_bytes:
            raise PayloadError(
                f"media {media_id} is {declared} bytes, over max_media_bytes="
                f"{self.max_media_bytes}",
                channel=_CHANNEL,
            )
        content = graph.request("GET", url, idempotent=True).content
        if len(content) > self.max_media_bytes:
            raise PayloadError(
                f"media {media_id} is over max_media_bytes={self.max_media_bytes}",
                channel=_CHANNEL,
            )
        if isinstance(declared, int) and declared != len(content):
            raise PayloadError(
                f"media {media_id}: got {len(content)} bytes, the API announced {declared}",
                channel=_CHANNEL,
            )
        digest = hashlib.sha256(content).hexdigest()
        for what, claimed in (("the API", meta.get("sha256")), ("the caller", expected_sha256)):
            if claimed is None:
                continue
            wanted = _hex_digest(claimed) if isinstance(claimed, str) else None
            if wanted != digest:
                raise PayloadError(
                    f"media {media_id}: SHA-256 {digest} does not match the one {what} gave "
                    f"({claimed!r})",
                    channel=_CHANNEL,
                )
        content_type = meta.get("mime_type")
        if not isinstance(content_type, str) or not content_type:
            content_type = "application/octet-stream"
        # "is None", not "or": an empty store is falsy (it has a length).
        target = store if store is not None else self.blobs
        if target is None:
            target = FileBlobStore("omnicx-media")
        key = target.put(content, content_type=content_type)
        return Attachment(
            filename=filename,
            content_type=content_type,
            size=len(content),
            sha256=digest,
            ref=key,
        )

