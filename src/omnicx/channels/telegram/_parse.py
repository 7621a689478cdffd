"""Telegram Bot API ``Update`` objects to `ChannelEvent`s (pure, no I/O).

An update is ``{"update_id": n, <one kind>: {...}}``. What each kind becomes:

- ``message``: an interaction from the user (``from``) in ``chat``. Its
  external id is ``"<chat id>:<message id>"`` (message ids are unique per
  chat only). Content: ``text``, or ``caption`` with ``photo`` (the largest
  size), ``document``, ``voice``, ``video``, ``video_note``, ``audio``,
  ``sticker`` (an attachment each, ``ref`` = the ``file_id`` to download
  with ``getFile``); ``location``, ``venue`` and ``contact`` are kept in
  ``data``. ``reply_to_message`` threads it. A ``contact`` whose ``user_id``
  is the sender's own id is the user sharing their phone number: the number
  becomes an address of the same contact, so WhatsApp, SMS and calls from
  that number meet this Telegram user in one history. Any other content
  (a poll, a dice, a service message) is ``unsupported`` with the message
  kept in ``data``.
- ``edited_message``: an `edited` update of the original message
  (``event_id`` ``edit:<update_id>``) with the new text.
- ``callback_query``: an interaction (``message_type`` ``callback_query``,
  the button's ``data`` as text), threaded to the message whose button was
  tapped.
- ``my_chat_member`` in a private chat: a ``system`` interaction
  ``bot_blocked`` (new status ``kicked``) or ``bot_unblocked``.
- ``message_reaction``: a `reacted` update of the message (``unreacted``
  when the new reaction list is empty), with the emoji in ``data``.
- ``channel_post`` and every other kind: ``unsupported``, attributed to the
  user or chat it names; an update that names neither yields no event (its
  raw payload is archived all the same). Never an exception.

Identity is the Telegram user id (address kind ``telegram``); channel chats
(negative ids) are addresses of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._enums import AddressKind, Channel, Direction, EventKind, Kind
from ..._errors import PayloadError
from ..._events import ChannelEvent, MessageEvent, UpdateEvent
from ..._models import Address, Attachment
from .._common import load_json
from .._fields import Fields

__all__ = ["MEDIA_KINDS", "decode_update", "parse_update"]

_CHANNEL = "telegram"
F = Fields(_CHANNEL)
# Media kinds and the content type Telegram implies when it names none.
MEDIA_KINDS = {
    "document": "application/octet-stream",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
}
_DATA_KINDS = ("venue", "location", "contact")  # venue first: a venue carries a location too
_MEDIA_EXTRAS = ("duration", "width", "height", "length", "performer", "title",
                 "file_unique_id")
_UNSUPPORTED_HINTS = ("poll", "dice", "game", "story", "invoice", "successful_payment",
                      "new_chat_members", "left_chat_member", "pinned_message", "giveaway")


def decode_update(body: bytes) -> Any:
    return load_json(body, channel=_CHANNEL)


def parse_update(document: Any, bot_id: str) -> list[ChannelEvent]:
    """The events of one decoded ``Update``."""
    update = F.obj(document, "update")
    update_id = F.integer(update, "update_id", "update", required=True)
    reader = _Reader(bot_id, update_id)
    if "message" in update:
        return [reader.message(F.obj(update["message"], "message"))]
    if "edited_message" in update:
        return [reader.edit(F.obj(update["edited_message"], "edited_message"))]
    if "callback_query" in update:
        return [reader.callback(F.obj(update["callback_query"], "callback_query"))]
    if "my_chat_member" in update:
        return [reader.membership(F.obj(update["my_chat_member"], "my_chat_member"))]
    if "message_reaction" in update:
        return [reader.reaction(F.obj(update["message_reaction"], "message_reaction"))]
    kind = next((k for k in update if k != "update_id"), None)
    if kind is None:
        raise F.fail("update: no content besides update_id")
    return reader.other(kind, update[kind])


def _full_name(user: Mapping[str, Any]) -> str | None:
    parts = [F.text(user, "first_name", "user"), F.text(user, "last_name", "user")]
    name = " ".join(p for p in parts if p)
    return name or None


class _Reader:
    def __init__(self, bot_id: str, update_id: int | None) -> None:
        self.bot_id = bot_id
        self.update_id = update_id
        self.bot = Address(kind=AddressKind.TELEGRAM, value=bot_id)

    # -- identity ------------------------------------------------------------------------
    def user(self, parent: Mapping[str, Any], key: str, what: str
             ) -> tuple[Address, str | None, dict[str, Any]] | None:
        user = parent.get(key)
        if user is None:
            return None
        user = F.obj(user, f"{what}.{key}")
        ident = F.integer(user, "id", f"{what}.{key}", required=True)
        name = _full_name(user)
        extras = {k: user[k] for k in ("username", "language_code", "is_bot", "is_premium")
                  if user.get(k) is not None}
        return Address(kind=AddressKind.TELEGRAM, value=str(ident), name=name), name, extras

    def chat(self, message: Mapping[str, Any], what: str) -> tuple[int, Mapping[str, Any]]:
        chat = F.obj(message.get("chat"), f"{what}.chat")
        chat_id = F.integer(chat, "id", f"{what}.chat", required=True)
        assert chat_id is not None
        return chat_id, chat

    def thread_key(self, chat_id: int) -> str:
        return f"tg:{self.bot_id}:{chat_id}"

    # -- messages ------------------------------------------------------------------------
    def message(self, message: Mapping[str, Any], *, kind_hint: str = "message"
                ) -> MessageEvent:
        what = kind_hint
        message_id = F.integer(message, "message_id", what, required=True)
        chat_id, chat = self.chat(message, what)
        at = F.time(message, "date", what)
        sender = self.user(message, "from", what)
        data: dict[str, Any] = {"chat_type": chat.get("type")}
        if sender is None:  # a channel post, an anonymous group admin: the chat speaks
            address = Address(kind=AddressKind.TELEGRAM, value=str(chat_id),
                              name=F.text(chat, "title", "chat"))
            name = address.name
        else:
            address, name, extras = sender
            data.update(extras)
        outbound = address.value == self.bot_id
        contact: list[Address] = [address]
        if outbound:  # the bot's own message: the customer is the (private) chat
            contact = [Address(kind=AddressKind.TELEGRAM, value=str(chat_id))]
        content = _content(message, what)
        data.update(content.data)
        shared = content.data.get("contact")
        if shared is not None and not outbound:
            phone = _own_phone(shared, address.value)
            if phone is not None:
                try:
                    contact.append(Address(kind=AddressKind.PHONE, value=phone, name=name))
                except PayloadError:
                    data["invalid_phone"] = phone
        reply = message.get("reply_to_message")
        reply_to = None
        if reply is not None:
            parent = F.obj(reply, f"{what}.reply_to_message")
            parent_id = F.integer(parent, "message_id", "reply_to_message", required=True)
            reply_to = f"{chat_id}:{parent_id}"
        for key in ("forward_origin", "quote", "media_group_id", "message_thread_id",
                    "via_bot", "reply_markup"):
            if message.get(key) is not None:
                data[key] = message[key]
        return MessageEvent(
            channel=Channel.TELEGRAM, account=self.bot_id,
            external_id=f"{chat_id}:{message_id}",
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            contact=tuple(contact), contact_name=None if outbound else name,
            kind=content.kind if kind_hint == "message" else Kind.UNSUPPORTED,
            message_type=content.message_type if kind_hint == "message" else kind_hint,
            occurred_at=at, sender=self.bot if outbound else address,
            recipients=(contact[0],) if outbound else (self.bot,), text=content.text,
            attachments=content.attachments, reply_to=reply_to,
            thread_key=self.thread_key(chat_id), data=data)

    def edit(self, message: Mapping[str, Any]) -> UpdateEvent:
        message_id = F.integer(message, "message_id", "edited_message", required=True)
        chat_id, _ = self.chat(message, "edited_message")
        edited = F.time(message, "edit_date", "edited_message") or F.time(
            message, "date", "edited_message")
        sender = self.user(message, "from", "edited_message")
        content = _content(message, "edited_message")
        data: dict[str, Any] = {"type": content.message_type}
        if content.text is not None:
            data["text"] = content.text
        if content.attachments:
            data["attachments"] = [{"ref": a.ref, "content_type": a.content_type,
                                    "filename": a.filename} for a in content.attachments]
        data.update({k: v for k, v in content.data.items() if k in _DATA_KINDS})
        # The update id, not the edit time: two edits within a second are two
        # events, and the same update polled or pushed again is one.
        return UpdateEvent(
            channel=Channel.TELEGRAM, account=self.bot_id, target=f"{chat_id}:{message_id}",
            event_id=f"edit:{self.update_id}", kind=EventKind.EDITED, occurred_at=edited,
            contact=(sender[0],) if sender else (), data=data)

    def callback(self, query: Mapping[str, Any]) -> MessageEvent:
        query_id = F.text(query, "id", "callback_query", required=True)
        sender = self.user(query, "from", "callback_query")
        if sender is None:
            raise F.fail("callback_query.from is required")
        address, name, extras = sender
        data: dict[str, Any] = dict(extras)
        refs: tuple[str, ...] = ()
        chat_id = int(address.value)  # a private chat's id is the user's id
        at = None
        origin = query.get("message")
        if origin is not None:
            origin = F.obj(origin, "callback_query.message")
            chat_id, _ = self.chat(origin, "callback_query.message")
            message_id = F.integer(origin, "message_id", "callback_query.message",
                                   required=True)
            refs = (f"{chat_id}:{message_id}",)
            data["message_id"] = message_id
        for key in ("chat_instance", "inline_message_id", "game_short_name"):
            if query.get(key) is not None:
                data[key] = query[key]
        return MessageEvent(
            channel=Channel.TELEGRAM, account=self.bot_id, external_id=f"callback:{query_id}",
            direction=Direction.INBOUND, contact=(address,), contact_name=name,
            message_type="callback_query", occurred_at=at, sender=address,
            recipients=(self.bot,), text=F.text(query, "data", "callback_query"),
            thread_refs=refs, thread_key=self.thread_key(chat_id), data=data)

    def membership(self, update: Mapping[str, Any]) -> MessageEvent:
        what = "my_chat_member"
        chat_id, chat = self.chat(update, what)
        sender = self.user(update, "from", what)
        if sender is None:
            raise F.fail(f"{what}.from is required")
        address, name, extras = sender
        old = F.text(F.opt_obj(update, "old_chat_member", what), "status", what)
        new = F.text(F.opt_obj(update, "new_chat_member", what), "status", what)
        private = chat.get("type") == "private"
        if private and new == "kicked":
            message_type = "bot_blocked"
        elif private and old == "kicked":
            message_type = "bot_unblocked"
        else:
            message_type = "chat_member"
        return MessageEvent(
            channel=Channel.TELEGRAM, account=self.bot_id,
            external_id=f"update:{self.update_id}", direction=Direction.INBOUND,
            contact=(address,), contact_name=name, kind=Kind.SYSTEM, message_type=message_type,
            occurred_at=F.time(update, "date", what), sender=address, recipients=(self.bot,),
            thread_key=self.thread_key(chat_id),
            data={"old_status": old, "new_status": new, "chat_type": chat.get("type"),
                  **extras})

    def reaction(self, update: Mapping[str, Any]) -> UpdateEvent:
        what = "message_reaction"
        chat_id, _ = self.chat(update, what)
        message_id = F.integer(update, "message_id", what, required=True)
        sender = self.user(update, "user", what)
        new = [_reaction(r) for r in F.objs(update, "new_reaction", what)]
        old = [_reaction(r) for r in F.objs(update, "old_reaction", what)]
        return UpdateEvent(
            channel=Channel.TELEGRAM, account=self.bot_id, target=f"{chat_id}:{message_id}",
            event_id=f"reaction:{self.update_id}",
            kind=EventKind.REACTED if new else EventKind.UNREACTED,
            occurred_at=F.time(update, "date", what),
            contact=(sender[0],) if sender else (),
            data={"emoji": new, "previous": old})

    def other(self, kind: str, value: Any) -> list[ChannelEvent]:
        """``channel_post`` and kinds omnicx does not model: unsupported, never an error."""
        if isinstance(value, dict) and "message_id" in value and "chat" in value:
            return [self.message(value, kind_hint=kind)]
        if not isinstance(value, dict):
            return []
        found = self.user(value, "from", kind) or self.user(value, "user", kind)
        if found is not None:
            address, name, _ = found
        elif isinstance(value.get("chat"), dict):
            chat_id, chat = self.chat(value, kind)
            address = Address(kind=AddressKind.TELEGRAM, value=str(chat_id),
                              name=F.text(chat, "title", "chat"))
            name = address.name
        else:
            return []
        return [MessageEvent(
            channel=Channel.TELEGRAM, account=self.bot_id,
            external_id=f"update:{self.update_id}", direction=Direction.INBOUND,
            contact=(address,), contact_name=name, kind=Kind.UNSUPPORTED, message_type=kind,
            occurred_at=F.time(value, "date", kind), sender=address, recipients=(self.bot,),
            data={kind: value})]


class _Content:
    __slots__ = ("attachments", "data", "kind", "message_type", "text")

    def __init__(self) -> None:
        self.text: str | None = None
        self.attachments: tuple[Attachment, ...] = ()
        self.data: dict[str, Any] = {}
        self.kind = Kind.MESSAGE
        self.message_type = "text"


def _content(message: Mapping[str, Any], what: str) -> _Content:
    content = _Content()
    text = F.text(message, "text", what)
    caption = F.text(message, "caption", what)
    content.text = text if text is not None else caption
    if "photo" in message:
        sizes = F.objs(message, "photo", what)
        if sizes:
            best = max(sizes, key=lambda s: (_area(s), F.integer(s, "file_size", "photo") or 0))
            content.attachments = (_file(best, "photo", "image/jpeg"),)
            content.data["photo"] = {k: best[k] for k in ("width", "height", "file_unique_id")
                                     if k in best}
        content.message_type = "photo"
        return content
    if "sticker" in message:
        sticker = F.obj(message["sticker"], f"{what}.sticker")
        kind = ("application/x-tgsticker" if sticker.get("is_animated") is True
                else "video/webm" if sticker.get("is_video") is True else "image/webp")
        content.attachments = (_file(sticker, "sticker", kind),)
        emoji = F.text(sticker, "emoji", "sticker")
        content.text = content.text or emoji
        content.data["sticker"] = {k: sticker[k] for k in ("emoji", "set_name", "type")
                                   if k in sticker}
        content.message_type = "sticker"
        return content
    for kind, default in MEDIA_KINDS.items():
        if kind in message:
            media = F.obj(message[kind], f"{what}.{kind}")
            content.attachments = (_file(media, kind, default),)
            extras = {k: media[k] for k in _MEDIA_EXTRAS if k in media}
            if extras:
                content.data[kind] = extras
            content.message_type = kind
            return content
    for kind in _DATA_KINDS:
        if kind in message:
            value = F.obj(message[kind], f"{what}.{kind}")
            if kind in ("location", "venue"):
                where = value if kind == "location" else F.opt_obj(value, "location", "venue")
                _coordinates(where, kind)
            content.data[kind] = dict(value)
            content.message_type = kind
            if content.text is None and kind == "venue":
                parts = [F.text(value, "title", "venue"), F.text(value, "address", "venue")]
                content.text = ", ".join(p for p in parts if p) or None
            return content
    if content.text is None:
        content.kind = Kind.UNSUPPORTED
        content.message_type = next((k for k in _UNSUPPORTED_HINTS if k in message),
                                    "unknown")
        content.data["message"] = dict(message)
    return content


def _reaction(reaction: Mapping[str, Any]) -> str:
    """A `ReactionType` as text: the emoji, or the kind of a custom or paid reaction."""
    kind = F.text(reaction, "type", "reaction") or "unknown"
    if kind == "emoji":
        return F.text(reaction, "emoji", "reaction", required=True) or ""
    if kind == "custom_emoji":
        return f"custom_emoji:{F.text(reaction, 'custom_emoji_id', 'reaction') or '?'}"
    return kind


def _area(size: Mapping[str, Any]) -> int:
    width = F.integer(size, "width", "photo") or 0
    height = F.integer(size, "height", "photo") or 0
    return width * height


def _file(media: Mapping[str, Any], what: str, default_type: str) -> Attachment:
    file_id = F.text(media, "file_id", what, required=True)
    size = F.integer(media, "file_size", what)
    return Attachment(filename=F.text(media, "file_name", what),
                      content_type=F.text(media, "mime_type", what) or default_type,
                      size=size if size is None or size >= 0 else None, ref=file_id)


def _coordinates(where: Mapping[str, Any], what: str) -> None:
    latitude = F.number(where, "latitude", what)
    longitude = F.number(where, "longitude", what)
    if latitude is None or longitude is None:
        raise F.fail(f"{what}: latitude and longitude are required")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise F.fail(f"{what}: coordinates out of range")


def _own_phone(shared: Mapping[str, Any], sender_id: str) -> str | None:
    """The shared number when the user shared their own contact, else ``None``."""
    user_id = shared.get("user_id")
    phone = shared.get("phone_number")
    if not isinstance(phone, str) or not phone.strip():
        raise F.fail("contact.phone_number is required")
    if isinstance(user_id, int) and not isinstance(user_id, bool) and str(user_id) == sender_id:
        # A Telegram account's own number is international, often without "+":
        # saying so keeps a history's default region from reading it as national.
        return phone if phone.lstrip().startswith("+") else "+" + phone.strip()
    return None

