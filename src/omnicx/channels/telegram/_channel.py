"""`Telegram`: one bot on the Telegram Bot API, by webhook or by polling, and its sender.

Inbound by webhook, Telegram sends each ``Update`` as a POST with the
``X-Telegram-Bot-Api-Secret-Token`` header set to the ``secret_token`` given
to ``setWebhook``; `Telegram.verify` compares it in constant time. Without a
public URL, `omnicx.History.poll` fetches updates with ``getUpdates`` and
stores them together with the next offset in one transaction, so a crash
between fetching and committing fetches the same updates again and stores
each once (``getUpdates`` only forgets an update once it is asked for a
higher offset).

Outbound, `Telegram.send` calls ``sendMessage``, ``sendPhoto`` or
``sendDocument`` (`omnicx.channels.telegram._api` has the retries and the
error map) and returns the ``"<chat id>:<message id>"`` the parser gives the
same message, so edits and replies attach to it.

    telegram = Telegram(bot_token="123456789:AA...", secret_token="s3cr3t-path-token")
    history.receive(telegram, body=raw_body, headers=headers)   # webhook
    history.poll(telegram)                                     # or polling
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

import attrs
import httpx

from ..._blobs import FileBlobStore
from ..._enums import Channel, Status
from ..._errors import ConfigurationError, PayloadError, SendError, SignatureError
from ..._events import ChannelEvent
from ..._models import Attachment, Interaction
from ..._outbound import Outgoing, SendResult
from ...typing import BlobStore, PollBatch
from .._common import HttpClientOwner, get_header, parse_epoch, require_secret
from ._api import BotAPI
from ._parse import F, decode_update, parse_update

__all__ = ["SECRET_HEADER", "Telegram"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_CHANNEL = "telegram"
_TOKEN = re.compile(r"([0-9]{1,20}):[A-Za-z0-9_-]{20,}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API's limit for getFile downloads
_MEDIA = (("photo", "sendPhoto", "image/jpeg"), ("document", "sendDocument",
                                                   "application/octet-stream"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class Telegram(HttpClientOwner):
    """One Telegram bot.

    ``bot_token`` (from @BotFather) authorises Bot API calls; its numeric
    prefix is the bot's id, the channel's account (give ``bot_id`` instead
    when this process only receives). ``secret_token`` is the one passed to
    ``setWebhook``: every webhook must carry it. ``poll_timeout`` is the
    long-polling wait of ``getUpdates`` in seconds; ``allowed_updates``
    narrows what it returns. ``transport`` and ``sleep`` are the seams tests
    use.
    """

    bot_token: str | None = attrs.field(default=None, repr=False)
    secret_token: str | None = attrs.field(default=None, repr=False, validator=require_secret)
    bot_id: str | None = None
    base_url: str = "https://api.telegram.org"
    transport: httpx.BaseTransport | None = attrs.field(default=None, repr=False, eq=False)
    timeout: float = 30.0
    poll_timeout: int = 0
    allowed_updates: tuple[str, ...] | None = None
    max_retries: int = 4
    backoff: float = 1.0
    max_wait: float = 300.0
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False, eq=False)
    clock: Callable[[], dt.datetime] = attrs.field(default=_utcnow, repr=False, eq=False)

    channel: ClassVar[Channel] = Channel.TELEGRAM
    address_kinds: ClassVar[tuple[str, ...]] = ("telegram",)

    def __attrs_post_init__(self) -> None:
        if self.secret_token is not None and not _SECRET.fullmatch(self.secret_token):
            raise ConfigurationError(
                "Telegram secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
                " (an empty secret would accept any request)")
        if self.bot_token is not None:
            match = _TOKEN.fullmatch(self.bot_token)
            if match is None:
                raise ConfigurationError("Telegram bot_token is not of the form <bot id>:<key>")
            if self.bot_id is not None and self.bot_id != match.group(1):
                raise ConfigurationError("bot_id does not match the bot_token's bot id")
        elif not self.bot_id:
            raise ConfigurationError("Telegram needs bot_token (or bot_id to only receive)")

    @property
    def account(self) -> str:
        if self.bot_id:
            return self.bot_id
        assert self.bot_token is not None
        return self.bot_token.split(":", 1)[0]

    # -- inbound -----------------------------------------------------------------------
    def sign(self, body: bytes) -> dict[str, str]:
        """The headers Telegram sends with ``body`` (tests, examples)."""
        return {SECRET_HEADER: self._secret()}

    def _secret(self) -> str:
        if not self.secret_token:
            raise ConfigurationError(
                "Telegram needs secret_token to verify webhooks (pass the same value to"
                " setWebhook); without a public URL, receive with history.poll(telegram)")
        return self.secret_token

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise `SignatureError` unless the request carries our secret token."""
        expected = self._secret()
        given = get_header(headers, SECRET_HEADER)
        if not given:
            raise SignatureError(f"missing {SECRET_HEADER}")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise SignatureError(f"{SECRET_HEADER} does not match")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        try:
            return parse_update(decode_update(body), self.account)
        except PayloadError as exc:
            raise F.owned(exc) from None

    # -- polling -------------------------------------------------------------------------
    @property
    def poll_cursor(self) -> str:
        """The name of the cursor `History.poll` keeps the next ``getUpdates`` offset in."""
        return f"telegram:{self.account}:offset"

    def fetch(self, cursor: str | None, *, limit: int = 100) -> PollBatch:
        """One ``getUpdates`` call from offset ``cursor``: the updates and the next offset."""
        body: dict[str, Any] = {"limit": max(1, min(limit, 100)), "timeout": self.poll_timeout}
        if cursor is not None:
            body["offset"] = int(cursor)
        if self.allowed_updates is not None:
            body["allowed_updates"] = list(self.allowed_updates)
        result = self._api.call("getUpdates", json_body=body, idempotent=True,
                                timeout=self.timeout + self.poll_timeout)
        if not isinstance(result, list):
            raise SendError("getUpdates answered without a list of updates", channel=_CHANNEL)
        payloads = []
        highest = int(cursor) - 1 if cursor is not None else None
        for update in result:
            # One raw payload per update, as a webhook would have delivered it.
            payloads.append(json.dumps(update, ensure_ascii=False,
                                       separators=(",", ":")).encode())
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if isinstance(update_id, int) and not isinstance(update_id, bool):
                highest = update_id if highest is None else max(highest, update_id)
        return PollBatch(payloads=tuple(payloads),
                         cursor=None if highest is None else str(highest + 1),
                         adapter=_Polled(self))

    # -- outbound ------------------------------------------------------------------------
    @cached_property
    def _api(self) -> BotAPI:
        return BotAPI(token=self.bot_token, base_url=self.base_url, transport=self.transport,
                      timeout=self.timeout, max_retries=self.max_retries,
                      backoff=self.backoff, max_wait=self.max_wait, sleep=self.sleep)



    def send(self, message: Outgoing) -> SendResult:
        """Send ``message`` to the user's private chat; raise `omnicx.SendError` on failure.

        ``message.options``: ``photo`` or ``document`` (a ``file_id``, an
        HTTPS URL, bytes, or ``{"data": bytes, "filename": ..., "content_type":
        ...}`` to upload) with ``text`` as the caption; ``parse_mode``,
        ``reply_markup`` (an inline keyboard) and ``disable_notification`` as
        the Bot API defines them.
        """
        options = message.options
        fields: dict[str, Any] = {"chat_id": _chat_id(message.to.value)}
        reply = message.reply_to
        if reply is not None and not reply.external_id.startswith("omnicx:"):
            chat, _, message_id = reply.external_id.rpartition(":")
            if message_id.isdigit() and chat == str(fields["chat_id"]):
                fields["reply_parameters"] = {"message_id": int(message_id),
                                              "allow_sending_without_reply": True}
        for key in ("parse_mode", "reply_markup", "disable_notification"):
            if options.get(key) is not None:
                fields[key] = options[key]
        media = next(((name, method, default) for name, method, default in _MEDIA
                      if options.get(name) is not None), None)
        if media is None:
            if not message.text:
                raise ConfigurationError(
                    "a Telegram message needs text, or options with a photo or document")
            fields["text"] = message.text
            result = self._api.call("sendMessage", json_body=fields, idempotent=False)
            kind = "text"
        else:
            kind, method, default = media
            if message.text:
                fields["caption"] = message.text
            value = options[kind]
            upload = _upload(value, kind, default)
            if upload is None:
                fields[kind] = str(value)
                result = self._api.call(method, json_body=fields, idempotent=False)
            else:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
                result = self._api.call(method, data=form, files={kind: upload},
                                        idempotent=False)
        return _sent(result, kind, message.text, self.clock())


    # -- files ---------------------------------------------------------------------------
    def download_attachments(self, interaction: Interaction, *,
                             store: BlobStore | None = None) -> tuple[Attachment, ...]:
        """Download every attachment of a Telegram interaction into ``store``.

        Each attachment's ``ref`` is the ``file_id`` from the update. Returns
        the stored attachments (``ref`` = blob key, ``sha256`` of the bytes),
        in order, with their names and content types.
        """
        return tuple(self.download_file(a.ref, store=store, filename=a.filename,
                                        content_type=a.content_type)
                     for a in interaction.attachments if a.ref)

    def download_file(self, file_id: str, *, store: BlobStore | None = None,
                      filename: str | None = None,
                      content_type: str = "application/octet-stream") -> Attachment:
        """``getFile``, then the bytes from the file URL into the blob store.

        The Bot API serves files up to 20 MB; ``file_size`` announced by
        ``getFile`` must match what arrives (else `PayloadError`).
        """
        info = self._api.call("getFile", json_body={"file_id": file_id}, idempotent=True)
        path = info.get("file_path") if isinstance(info, dict) else None
        if not isinstance(path, str) or not path:
            raise SendError(f"getFile gave no file_path for {file_id}", channel=_CHANNEL)
        content = self._api.download(path, max_bytes=MAX_DOWNLOAD)
        declared = info.get("file_size")
        if isinstance(declared, int) and declared != len(content):
            raise PayloadError(f"file {file_id}: got {len(content)} bytes, getFile announced"
                               f" {declared}", channel=_CHANNEL)
        target = store if store is not None else FileBlobStore("omnicx-media")
        key = target.put(content, content_type=content_type)
        return Attachment(filename=filename or path.rsplit("/", 1)[-1],
                          content_type=content_type, size=len(content),
                          sha256=hashlib.sha256(content).hexdigest(), ref=key)


@attrs.frozen
class _Polled:
    """`Telegram` for updates fetched with ``getUpdates``: the same parser, no header check.

    Polled updates come back from an HTTPS call authenticated with the bot
    token, not from a request anyone could make, so there is no secret
    header to check (and a polling bot needs no ``secret_token``).
    """

    telegram: Telegram

    @property
    def channel(self) -> Channel:
        return self.telegram.channel

    @property
    def account(self) -> str:
        return self.telegram.account

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Nothing to verify: see the class docstring."""

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return self.telegram.parse(body, headers)


def _chat_id(value: str) -> int | str:
    text = value.strip()
    return int(text) if text.lstrip("-").isdigit() else text  # an id, or "@channelusername"


def _upload(value: Any, kind: str, default: str) -> tuple[str, bytes, str] | None:
    """``(filename, bytes, content type)`` for bytes to upload; ``None`` for an id or URL."""
    if isinstance(value, str):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return (kind, bytes(value), default)
    if isinstance(value, Mapping) and value.get("data") is not None:
        return (str(value.get("filename") or kind), bytes(value["data"]),
                str(value.get("content_type") or default))
    raise ConfigurationError(
        f"options[{kind!r}] must be a file_id, a URL, bytes or a mapping with data")


def _sent(result: Any, kind: str, text: str | None, now: dt.datetime) -> SendResult:
    if not isinstance(result, dict):
        raise SendError("the Bot API accepted the message but returned no message",
                        channel=_CHANNEL)
    chat = result.get("chat")
    message_id = result.get("message_id")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(message_id, int) or not isinstance(chat_id, int):
        raise SendError("the Bot API returned a message without chat.id and message_id",
                        channel=_CHANNEL)
    try:
        at = parse_epoch(result["date"], channel=_CHANNEL) if "date" in result else now
    except PayloadError:
        at = now
    return SendResult(external_id=f"{chat_id}:{message_id}", status=Status.SENT,
                      occurred_at=at, message_type=kind, text=text,
                      data={"message_id": message_id, "chat_id": chat_id})
