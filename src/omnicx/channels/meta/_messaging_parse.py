"""Parsing Messenger and Instagram webhooks (``entry[].messaging[]``) into `ChannelEvent`s.

Both platforms post ``{"object": "page" | "instagram", "entry": [...]}``;
each entry is one Page (or Instagram professional account), ``entry.id``,
and carries ``messaging[]`` (and ``standby[]`` while another app owns the
thread): items with a ``sender``, a ``recipient``, a ``timestamp`` in
milliseconds and exactly one payload key. Meta batches, so every list is
walked. The dashboard's "Test" button posts the same items as
``changes[{"field": "messages", "value": item}]``; those are read too.

What each item becomes:

- ``message``: a `MessageEvent`, inbound from the customer (``sender``) or,
  with ``is_echo``, outbound to them (``recipient``): what the Page sent from
  another inbox or app. Its ``mid`` is the external id. ``text``,
  ``attachments`` (image, video, audio, file, sticker, reel, story mention,
  share: their URL is the attachment's ``ref``;
  location, fallback and template payloads are kept in ``data``),
  ``reply_to.mid`` threads it, ``quick_reply`` and ``referral`` go to
  ``data``; ``is_unsupported`` makes it ``unsupported``; ``is_deleted``
  (Instagram unsend) is a `revoked` update of that ``mid``. The echo of a
  message omnicx sent itself (its ``metadata`` is omnicx's client id) is a
  ``sent`` status of that interaction, whichever of the echo and the Send
  API's answer arrives first.
- ``message_edit``: an `edited` update (``event_id`` ``edit:<num_edit>``).
- ``reaction``: `reacted` / `unreacted` on ``reaction.mid``.
- ``postback`` (a button tap) and ``referral`` (an m.me link, an ad): an
  inbound interaction (kind ``message`` / ``system``) with the payload in
  ``data``.
- ``delivery``: a `delivered` status for each of ``mids`` and a
  `WatermarkEvent`: everything sent before ``watermark`` was delivered (an
  echo that arrives after the watermark still gets it: echoes are
  ``watermarked``);
  ``read``: a `WatermarkEvent` (Messenger's ``watermark``) or, on Instagram
  (``read.mid``), a `read` status of that message and a watermark through it.
- anything else (``optin``, ``account_linking``, a key Meta adds next year):
  an ``unsupported`` interaction with the item kept in ``data``.

Identity: the customer is a Page-scoped id (PSID, address kind
``messenger``) or an Instagram-scoped id (IGSID, ``instagram``). Neither is
a phone number or an email: such a user stays a contact of their own until
linked or merged by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..._enums import AddressKind, Channel, Direction, EventKind, Kind, Status
from ..._events import ChannelEvent, MessageEvent, UpdateEvent, WatermarkEvent
from ..._models import Address, Attachment
from .._common import load_json
from .._fields import Fields

__all__ = ["MEDIA_TYPES", "Platform", "parse_messaging"]

# Attachment types whose payload is a file at a URL (the rest are data).
MEDIA_TYPES = {
    "image": "image/*", "video": "video/*", "audio": "audio/*", "file": None,
    "sticker": "image/*", "reel": "video/*", "ig_reel": "video/*", "story_mention": None,
    "share": None, "animated_image_share": "image/gif", "ig_post": None, "post": None,
}
_DATA_TYPES = frozenset({"location", "fallback", "template", "product", "appointment_booking"})
_ITEM_KEYS = ("message", "message_edit", "reaction", "postback", "referral", "delivery",
              "read")
_ENVELOPE = frozenset({"sender", "recipient", "timestamp"})
OWN_SEND_PREFIX = "omnicx:"  # the client ids `History.send` gives outbound messages


class Platform:
    """What differs between Messenger and Instagram when parsing: names and kinds."""

    __slots__ = ("address_kind", "channel", "fields", "label", "object")

    def __init__(self, channel: Channel, obj: str, address_kind: AddressKind, label: str
                 ) -> None:
        self.channel = channel
        self.object = obj
        self.address_kind = address_kind
        self.label = label
        self.fields = Fields(channel.value)


MESSENGER = Platform(Channel.MESSENGER, "page", AddressKind.MESSENGER, "Messenger")
INSTAGRAM = Platform(Channel.INSTAGRAM, "instagram", AddressKind.INSTAGRAM, "Instagram")


@lru_cache(maxsize=65536)
def _address(kind: AddressKind, value: str) -> Address:
    """One shared `Address` per id: they are immutable values, and a webhook repeats few ids."""
    return Address(kind=kind, value=value)


def decode(body: bytes, platform: Platform) -> Any:
    return load_json(body, channel=platform.channel.value)


def parse_messaging(document: Any, platform: Platform, account: str) -> list[ChannelEvent]:
    """Every event in a decoded webhook body of ``platform`` for ``account``."""
    f = platform.fields
    body = f.obj(document, "body")
    obj = body.get("object")
    if obj is not None and obj != platform.object:
        raise f.fail(f"not a {platform.label} webhook: object={obj!r}")
    events: list[ChannelEvent] = []
    for entry in f.objs(body, "entry", "body", required=True):
        page = f.text(entry, "id", "entry") or account
        items = [*f.objs(entry, "messaging", "entry"), *f.objs(entry, "standby", "entry")]
        for change in f.objs(entry, "changes", "entry"):
            value = change.get("value")
            if isinstance(value, dict) and _ENVELOPE & value.keys():
                items.append(value)
        reader = _Item(platform, page)
        for item in items:
            reader.read(item, events)
    return events


class _Item:
    """Reads one entry's messaging items for one Page or Instagram account."""

    def __init__(self, platform: Platform, page: str) -> None:
        self.p = platform
        self.f = platform.fields
        self.page = page
        self.thread_key = f"{platform.channel.value}:{page}"
        self.business = _address(platform.address_kind, page)

    def party(self, item: Mapping[str, Any], key: str) -> Address | None:
        who = self.f.opt_obj(item, key, "item")
        ident = self.f.text(who, "id", key)
        if ident is None:
            ref = self.f.text(who, "user_ref", key)  # the chat plugin's guests
            ident = f"user_ref:{ref}" if ref else None
        return None if ident is None else _address(self.p.address_kind, ident)

    def read(self, item: Mapping[str, Any], events: list[ChannelEvent]) -> None:
        f = self.f
        at = f.time(item, "timestamp", "item")
        sender = self.party(item, "sender")
        recipient = self.party(item, "recipient")
        message = item.get("message")
        # What the Page sent: flagged as an echo, or (standby, older payloads)
        # merely sent by the Page. The customer is then the recipient.
        echo = (isinstance(message, dict) and message.get("is_echo") is True) or (
            sender is not None and sender.value == self.page)
        customer = recipient if echo else sender
        if customer is None:
            raise f.fail("item: neither sender.id nor recipient.id names the customer")
        contact = (customer,)
        key = next((k for k in _ITEM_KEYS if k in item), None)
        if key == "message":
            events.append(self.message(f.obj(message, "message"), contact, at, echo))
        elif key == "message_edit":
            edit = f.obj(item["message_edit"], "message_edit")
            mid = f.text(edit, "mid", "message_edit", required=True)
            count = f.integer(edit, "num_edit", "message_edit")
            data = {"text": f.text(edit, "text", "message_edit"), "num_edit": count}
            events.append(self.update(mid, f"edit:{count if count is not None else at}",
                                      EventKind.EDITED, at, contact, data))
        elif key == "reaction":
            reaction = f.obj(item["reaction"], "reaction")
            mid = f.text(reaction, "mid", "reaction", required=True)
            action = f.text(reaction, "action", "reaction") or "react"
            kind = EventKind.UNREACTED if action == "unreact" else EventKind.REACTED
            data = {k: reaction[k] for k in ("reaction", "emoji") if isinstance(
                reaction.get(k), str)}
            stamp = at.isoformat() if at else "?"
            events.append(self.update(mid, f"reaction:{customer.value}:{action}:{stamp}", kind,
                                      at, contact, data))
        elif key == "postback":
            events.append(self.postback(f.obj(item["postback"], "postback"), contact, at))
        elif key == "referral":
            referral = dict(f.obj(item["referral"], "referral"))
            events.append(self.inbound(
                f"referral:{customer.value}:{_stamp(at)}", contact, at, kind=Kind.SYSTEM,
                message_type="referral", text=None, data={"referral": referral}))
        elif key == "delivery":
            delivery = f.obj(item["delivery"], "delivery")
            mids = delivery.get("mids")
            if mids is not None and not isinstance(mids, list):
                raise f.fail("delivery.mids: expected a list")
            for mid in mids or ():
                if not isinstance(mid, str) or not mid:
                    raise f.fail("delivery.mids[]: expected a message id")
                events.append(self.update(mid, "status:delivered", EventKind.STATUS, at,
                                          contact, {}, status=Status.DELIVERED))
            mark = f.time(delivery, "watermark", "delivery")
            if mark is not None:
                events.append(WatermarkEvent(channel=self.p.channel, account=self.page,
                                             contact=contact, status=Status.DELIVERED,
                                             up_to=mark, occurred_at=at or mark))
        elif key == "read":
            read = f.obj(item["read"], "read")
            mid = f.text(read, "mid", "read")
            mark = f.time(read, "watermark", "read")
            if mid is not None:
                events.append(self.update(mid, "status:read", EventKind.STATUS, at, contact,
                                          {}, status=Status.READ))
                events.append(WatermarkEvent(channel=self.p.channel, account=self.page,
                                             contact=contact, status=Status.READ, through=mid,
                                             occurred_at=at))
            elif mark is not None:
                events.append(WatermarkEvent(channel=self.p.channel, account=self.page,
                                             contact=contact, status=Status.READ, up_to=mark,
                                             occurred_at=at or mark))
            else:
                raise f.fail("read: neither a watermark nor a mid")
        else:
            other = next((k for k in item if k not in _ENVELOPE), "unknown")
            events.append(self.inbound(
                f"{other}:{customer.value}:{_stamp(at)}", contact, at, kind=Kind.UNSUPPORTED,
                message_type=other, text=None, data={"item": dict(item)}))

    # -- builders -----------------------------------------------------------------------
    def update(self, mid: str | None, event_id: str, kind: EventKind, at: dt.datetime | None,
               contact: tuple[Address, ...], data: Mapping[str, Any],
               status: Status | None = None) -> UpdateEvent:
        assert mid is not None
        return UpdateEvent(channel=self.p.channel, account=self.page, target=mid,
                           event_id=event_id, kind=kind, occurred_at=at, status=status,
                           contact=contact, data=data)

    def inbound(self, external_id: str, contact: tuple[Address, ...], at: dt.datetime | None,
                *, kind: Kind, message_type: str, text: str | None,
                data: Mapping[str, Any], reply_to: str | None = None) -> MessageEvent:
        return MessageEvent(
            channel=self.p.channel, account=self.page, external_id=external_id,
            direction=Direction.INBOUND, contact=contact, kind=kind,
            message_type=message_type, occurred_at=at, sender=contact[0],
            recipients=(self.business,), text=text, reply_to=reply_to,
            thread_key=self.thread_key, data=data)

    def postback(self, postback: Mapping[str, Any], contact: tuple[Address, ...],
                 at: dt.datetime | None) -> MessageEvent:
        f = self.f
        mid = f.text(postback, "mid", "postback")
        data: dict[str, Any] = {}
        for key in ("payload", "referral"):
            if postback.get(key) is not None:
                data[key] = postback[key]
        return self.inbound(mid or f"postback:{contact[0].value}:{_stamp(at)}", contact, at,
                            kind=Kind.MESSAGE, message_type="postback",
                            text=f.text(postback, "title", "postback"), data=data)

    def message(self, message: Mapping[str, Any], contact: tuple[Address, ...],
                at: dt.datetime | None, echo: bool) -> ChannelEvent:
        f = self.f
        mid = f.text(message, "mid", "message", required=True)
        assert mid is not None
        if message.get("is_deleted") is True:
            return self.update(mid, "revoke", EventKind.REVOKED, at, contact, {})
        metadata = message.get("metadata")
        if echo and isinstance(metadata, str) and metadata.startswith(OWN_SEND_PREFIX):
            # The echo of a message omnicx sent (`send_body` puts its client id in
            # the metadata): a status of that interaction, not a second one. It
            # may beat the Send API's answer here; it then waits for the id, as
            # an open gap, and attaches when `History.send` stores the id.
            return self.update(mid, "echo", EventKind.STATUS, at, contact,
                               {"client_id": metadata}, status=Status.SENT)
        text = f.text(message, "text", "message")
        attachments: list[Attachment] = []
        data: dict[str, Any] = {}
        types: list[str] = []
        for item in f.objs(message, "attachments", "message"):
            kind = f.text(item, "type", "attachment") or "unknown"
            types.append(kind)
            payload = f.opt_obj(item, "payload", "attachment")
            if kind in MEDIA_TYPES:
                url = f.text(payload, "url", "attachment.payload")
                content_type = MEDIA_TYPES[kind] or "application/octet-stream"
                attachments.append(Attachment(filename=_filename(url), content_type=content_type,
                                              ref=url))
                extra = {k: v for k, v in payload.items() if k != "url"}
                if extra:
                    data.setdefault("attachment_payloads", []).append({"type": kind, **extra})
            else:
                data.setdefault(kind if kind in _DATA_TYPES else "attachments", []).append(
                    {"type": kind, "payload": dict(payload), **(
                        {"title": item["title"]} if isinstance(item.get("title"), str) else {}),
                     **({"url": item["url"]} if isinstance(item.get("url"), str) else {})})
        reply = f.opt_obj(message, "reply_to", "message")
        reply_to = f.text(reply, "mid", "reply_to")
        if reply and not reply_to:
            data["reply_to"] = dict(reply)  # an Instagram story reply: no message to thread to
        for key in ("quick_reply", "referral", "metadata", "app_id", "commands"):
            if message.get(key) is not None:
                data[key] = message[key]
        unsupported = message.get("is_unsupported") is True
        message_type = ("unsupported" if unsupported else types[0] if types
                        else "text" if text is not None else "unknown")
        kind = Kind.UNSUPPORTED if unsupported or message_type == "unknown" else Kind.MESSAGE
        customer = contact[0]
        return MessageEvent(
            channel=self.p.channel, account=self.page, external_id=mid,
            direction=Direction.OUTBOUND if echo else Direction.INBOUND, contact=contact,
            kind=kind, message_type=message_type, occurred_at=at,
            sender=self.business if echo else customer,
            recipients=(customer,) if echo else (self.business,), text=text,
            attachments=tuple(attachments), reply_to=reply_to, thread_key=self.thread_key,
            status=Status.SENT if echo else None, data=data, watermarked=echo)


def _stamp(at: dt.datetime | None) -> str:
    """A stable id part from the item's time (Meta gives such items no id of their own)."""
    return str(round(at.timestamp() * 1000)) if at is not None else "?"


def _filename(url: str | None) -> str | None:
    if not url:
        return None
    path = url.split("?", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1]
    return name if name and "." in name else None

