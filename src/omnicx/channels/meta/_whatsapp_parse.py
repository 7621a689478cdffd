"""Parsing of WhatsApp Cloud API webhook payloads into `ChannelEvent`s.

A webhook body is ``{"object": "whatsapp_business_account", "entry": [...]}``;
each entry has ``changes``, each change a ``field`` and a ``value``. Meta
batches: one body may hold several entries, changes, messages and statuses,
so every list is walked, never just index 0.

- ``field == "messages"``: ``value.messages[]`` are inbound messages,
  ``value.statuses[]`` delivery statuses of outbound messages;
- ``field == "smb_message_echoes"``: ``value.message_echoes[]`` are messages
  the business sent from the WhatsApp Business app (outbound interactions).

Other fields (template updates, account updates...) carry no interaction and
yield no events; the raw payload is archived by the ingest pipeline anyway.

Identity: the business-scoped user id (BSUID, ``user_id`` / ``from_user_id``
/ ``recipient_user_id``) and the phone number (``wa_id`` / ``from`` /
``recipient_id``) are both optional. Every one present becomes an address of
the event's contact, BSUIDs first, so the same person is one contact whatever
mix arrives.

Every access goes through the small helpers at the bottom, which raise
`PayloadError` for a value of the wrong shape: no `KeyError`, `TypeError` or
`AttributeError` can escape (the hypothesis tests mutate valid payloads to
prove it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..._enums import Channel, Direction, EventKind, Kind, Status
from ..._errors import PayloadError
from ..._events import ChannelEvent, MessageEvent, UpdateEvent
from ..._models import Address, Attachment
from .._common import load_json, parse_epoch

__all__ = ["MEDIA_TYPES", "decode_body", "parse_document"]

_CHANNEL = "whatsapp"
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[0-9A-Za-z]+")
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_UPDATE_TYPES = {"edit": EventKind.EDITED, "revoke": EventKind.REVOKED}
_EMPTY: dict[str, Any] = {}


def decode_body(body: bytes) -> Any:
    """Decode a webhook body (orjson when installed, see `load_json`) or raise `PayloadError`."""
    return load_json(body, channel=_CHANNEL)


def parse_document(document: Any, default_account: str) -> list[ChannelEvent]:
    """Return every event in a decoded webhook body."""
    # Hot path: JSON gives exact dicts and lists, so ``type(x) is dict`` is
    # checked inline and the helpers (which raise the errors) run only when
    # a shape is wrong. A webhook handler spends most of its time here.
    body = document if type(document) is dict else _dict(document, "body")
    obj = body.get("object")
    if obj is not None and obj != "whatsapp_business_account":
        raise PayloadError(f"not a WhatsApp Business webhook: object={obj!r}", channel=_CHANNEL)
    events: list[ChannelEvent] = []
    entries = body.get("entry")
    if type(entries) is not list:
        entries = _list(body, "entry", "body", required=True)
    for raw_entry in entries:
        entry = raw_entry if type(raw_entry) is dict else _dict(raw_entry, "entry")
        changes = entry.get("changes")
        if type(changes) is not list:
            changes = _list(entry, "changes", "entry")
        for raw_change in changes:
            change = raw_change if type(raw_change) is dict else _dict(raw_change, "change")
            field = change.get("field")
            if field == "messages":
                value = _Value(_dict(change.get("value"), "messages value"), default_account)
                for message in _items(value.value, "messages"):
                    events.append(value.message(message, outbound=False))
                for status in _items(value.value, "statuses"):
                    events.append(value.status(status))
            elif field == "smb_message_echoes":
                value = _Value(_dict(change.get("value"), "echoes value"), default_account)
                for message in _items(value.value, "message_echoes"):
                    events.append(value.message(message, outbound=True))
    return events


def _items(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``value[key]`` as a list of objects (empty when absent)."""
    items = value.get(key)
    if items is None:
        return []
    if type(items) is not list:
        items = _list(value, key, "value")
    for item in items:
        if type(item) is not dict:
            _dict(item, key)
    return items


class _Value:
    """One ``change.value``: its metadata and contacts, shared by its messages and statuses."""

    def __init__(self, value: dict[str, Any], default_account: str) -> None:
        self.value = value
        metadata = value.get("metadata")
        if type(metadata) is not dict:
            metadata = _optional_dict(value, "metadata", "value")
        account = _str(metadata, "phone_number_id", "metadata") or default_account
        display = _str(metadata, "display_phone_number", "metadata")
        self.account, self.thread_key, self.business = _business(account, display)
        self.contacts = _items(value, "contacts")
        errors = value.get("errors")
        self.errors = errors if isinstance(errors, list) else None

    # -- identity ---------------------------------------------------------------

    def _contact_for(self, phone: str | None, user_id: str | None) -> dict[str, Any]:
        for contact in self.contacts:
            if (user_id and contact.get("user_id") == user_id) or (
                phone and contact.get("wa_id") == phone
            ):
                return contact
        if len(self.contacts) == 1:
            # A lone contact whose identifiers do not contradict ours is the sender.
            only = self.contacts[0]
            if not (user_id and only.get("user_id")) and not (phone and only.get("wa_id")):
                return only
        return _EMPTY

    def addresses(
        self, phone: str | None, user_id: str | None, parent_id: str | None,
        where: tuple[str, str],
    ) -> tuple[tuple[Address, ...], str | None, dict[str, Any]]:
        """The customer's addresses (BSUIDs first), display name and identity extras.

        ``where`` names the item for error messages (``("message", wamid)``).
        """
        if phone and not phone.isdigit() and _BSUID.fullmatch(phone):
            # A user id where a phone number was expected (a user without a
            # visible number): it identifies them all the same.
            user_id, phone = user_id or phone, None
        contact = self._contact_for(phone, user_id)
        profile = _optional_dict(contact, "profile", "contact")
        user_id = user_id or _str(contact, "user_id", "contact")
        parent_id = parent_id or _str(contact, "parent_user_id", "contact")
        wa_id = _str(contact, "wa_id", "contact")
        name = _str(profile, "name", "profile")
        addresses: list[Address] = []
        extras: dict[str, Any] = {}
        if user_id:
            addresses.append(_address(_WHATSAPP, user_id, name))
        if parent_id and parent_id != user_id:
            addresses.append(_address(_WHATSAPP, parent_id, name))
        phone_seen = None
        for number in (phone,) if not wa_id or wa_id == phone else (phone, wa_id):
            if not number:
                continue
            try:
                address = _address(_PHONE, number, name)
            except PayloadError as exc:
                if addresses:  # a BSUID still identifies the person; keep what we got
                    extras["invalid_phone"] = number
                    continue
                raise PayloadError(
                    f"{where[0]} {where[1]}: {exc.message}", channel=_CHANNEL
                ) from exc
            if address.value != phone_seen:
                addresses.append(address)
                phone_seen = address.value
        if not addresses:
            raise PayloadError(
                f"{where[0]} {where[1]}: neither a phone number nor a user id", channel=_CHANNEL
            )
        username = _str(profile, "username", "profile")
        if username:
            extras["username"] = username
        if parent_id:
            extras["parent_user_id"] = parent_id
        key_hash = contact.get("identity_key_hash")
        if isinstance(key_hash, str):
            extras["identity_key_hash"] = key_hash
        return tuple(addresses), name, extras

    # -- messages ---------------------------------------------------------------

    def message(self, msg: dict[str, Any], *, outbound: bool) -> ChannelEvent:
        wamid = _str(msg, "id", "message", required=True)
        assert wamid is not None
        at = _time(msg.get("timestamp"))
        if outbound:
            contact, name, extras = self.addresses(
                _str(msg, "to", "message echo"),
                _str(msg, "to_user_id", "message echo"),
                _str(msg, "to_parent_user_id", "message echo"),
                ("message echo", wamid),
            )
        else:
            contact, name, extras = self.addresses(
                _str(msg, "from", "message"),
                _str(msg, "from_user_id", "message"),
                _str(msg, "from_parent_user_id", "message"),
                ("message", wamid),
            )
        msg_type = _str(msg, "type", "message") or "unknown"
        errors = msg.get("errors", self.errors)
        unrendered = _unrendered(msg, msg_type, errors)

        if unrendered is None and (msg_type in _UPDATE_TYPES or msg_type == "reaction"):
            return self._update(msg, msg_type, wamid, at, contact)

        parsed = _content(msg, msg_type) if unrendered is None else unrendered
        data = parsed.data
        data.update(extras)
        context = _optional_dict(msg, "context", "message")
        reply_to = None
        if context:
            data["context"] = context
            reply_to = _str(context, "id", "context")
        referral = _optional_dict(msg, "referral", "message")
        if referral:
            data["referral"] = referral
        if errors:
            data["errors"] = errors
        if msg_type == "system" and unrendered is None:
            new_phone = _str(parsed.data.get("system", _EMPTY), "wa_id", "system") or _str(
                parsed.data.get("system", _EMPTY), "new_wa_id", "system"
            )
            contact = _with_new_phone(contact, new_phone, name)
        customer = contact[0]
        return MessageEvent(
            channel=Channel.WHATSAPP,
            account=self.account,
            external_id=wamid,
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            contact=contact,
            contact_name=None if outbound else name,
            kind=parsed.kind,
            message_type=msg_type,
            occurred_at=at,
            sender=self.business if outbound else customer,
            recipients=(customer,) if outbound else _opt_tuple(self.business),
            text=parsed.text,
            attachments=parsed.attachments,
            reply_to=reply_to,
            thread_key=self.thread_key,
            status=Status.SENT if outbound else None,
            data=data,
        )

    def _update(
        self,
        msg: dict[str, Any],
        msg_type: str,
        wamid: str,
        at: dt.datetime | None,
        contact: tuple[Address, ...],
    ) -> UpdateEvent:
        data: dict[str, Any] = {}
        if msg_type == "reaction":
            reaction = _dict(msg.get("reaction"), "reaction")
            target = _str(reaction, "message_id", "reaction", required=True)
            emoji = _str(reaction, "emoji", "reaction")
            kind = EventKind.REACTED if emoji else EventKind.UNREACTED
            if emoji:
                data["emoji"] = emoji
        else:
            inner = _dict(msg.get(msg_type), msg_type)
            target = _str(inner, "original_message_id", msg_type, required=True)
            kind = _UPDATE_TYPES[msg_type]
            if msg_type == "edit":
                edited = _dict(inner.get("message"), "edit message")
                edited_type = _str(edited, "type", "edit message") or "unknown"
                content = _content(edited, edited_type)
                data["type"] = edited_type
                if content.text is not None:
                    data["text"] = content.text
                if content.attachments:
                    data["attachments"] = [
                        {"ref": a.ref, "content_type": a.content_type, "filename": a.filename}
                        for a in content.attachments
                    ]
                data["message"] = edited
        assert target is not None
        return UpdateEvent(
            channel=Channel.WHATSAPP,
            account=self.account,
            target=target,
            event_id=wamid,
            kind=kind,
            occurred_at=at,
            contact=contact,
            data=data,
        )

    # -- statuses ---------------------------------------------------------------

    def status(self, item: dict[str, Any]) -> UpdateEvent:
        wamid = _str(item, "id", "status", required=True)
        name = _str(item, "status", "status", required=True)
        assert wamid is not None and name is not None
        name = name.lower()
        at = _time(item.get("timestamp"))
        contact: tuple[Address, ...] = ()
        data: dict[str, Any] = {}
        if item.get("recipient_type") == "group":
            data["group_id"] = item.get("recipient_id")
        else:
            phone = _str(item, "recipient_id", "status")
            user_id = _str(item, "recipient_user_id", "status")
            parent = _str(item, "recipient_parent_user_id", "status")
            if phone or user_id or parent:
                try:
                    contact, _, extras = self.addresses(phone, user_id, parent, ("status", wamid))
                except PayloadError:
                    # The recipient is already known from the outbound message; an
                    # unreadable recipient must not cost us the status itself.
                    data["recipient_id"] = phone
                else:
                    data.update(extras)
        for key in ("pricing", "conversation", "biz_opaque_callback_data"):
            if key in item:
                data[key] = item[key]
        error = None
        errors = item.get("errors", self.errors)
        if errors is not None:
            data["errors"] = errors
            error = _error_text(errors)
        return UpdateEvent(
            channel=Channel.WHATSAPP,
            account=self.account,
            target=wamid,
            event_id=f"status:{name}",
            kind=EventKind.STATUS,
            status=Status.coerce(name),
            occurred_at=at,
            error=error,
            contact=contact,
            data=data,
        )


# -- message content ----------------------------------------------------------


class _Content:
    __slots__ = ("attachments", "data", "kind", "text")

    def __init__(
        self,
        text: str | None = None,
        *,
        kind: Kind = Kind.MESSAGE,
        attachments: tuple[Attachment, ...] = (),
        data: dict[str, Any] | None = None,
    ) -> None:
        self.text = text
        self.kind = kind
        self.attachments = attachments
        self.data = data if data is not None else {}


def _content(msg: dict[str, Any], msg_type: str) -> _Content:
    reader = _READERS.get(msg_type)
    if reader is None:
        # A type we do not know (yet): keep everything, never fail.
        return _Content(kind=Kind.UNSUPPORTED, data={"raw": msg})
    return reader(msg)


def _unrendered(msg: dict[str, Any], msg_type: str, errors: Any) -> _Content | None:
    """The content of a message Meta could not render, or ``None`` for a rendered one.

    Meta reports such a message with its ``type`` set (``unsupported``, but
    also ``image``, ``reaction``, ...), the object of that type missing and
    ``errors`` saying why (131051 "Message type unknown", 131060 "This message
    is currently unavailable"). It is an interaction the customer sent, so it
    is kept as kind ``unsupported`` with its errors, never refused as malformed.
    A message with an object missing and no errors stays a payload error.
    """
    if msg_type == "unsupported" or msg.get(msg_type) is not None:
        return None
    if not isinstance(errors, list) or not errors:
        return None
    return _Content(kind=Kind.UNSUPPORTED, data={"raw": msg, "unrendered_type": msg_type})


def _text_content(msg: dict[str, Any]) -> _Content:
    text = _dict(msg.get("text"), "text")
    return _Content(_str(text, "body", "text"))


def _media_content(msg: dict[str, Any]) -> _Content:
    media_type = str(msg.get("type"))
    media = _dict(msg.get(media_type), media_type)
    media_id = _str(media, "id", media_type)
    mime = _str(media, "mime_type", media_type) or "application/octet-stream"
    filename = _str(media, "filename", media_type)
    digest = _str(media, "sha256", media_type)
    size = media.get("file_size")
    attachment = Attachment(
        filename=filename,
        content_type=mime,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        sha256=_hex_digest(digest),
        ref=media_id,
    )
    details = {k: media[k] for k in ("voice", "animated", "url", "sha256") if k in media}
    return _Content(
        _str(media, "caption", media_type),
        attachments=(attachment,),
        data={"media": details} if details else {},
    )


def _location_content(msg: dict[str, Any]) -> _Content:
    location = _dict(msg.get("location"), "location")
    parts = [_str(location, key, "location") for key in ("name", "address")]
    text = ", ".join(p for p in parts if p) or None
    return _Content(text, data={"location": location})


def _contacts_content(msg: dict[str, Any]) -> _Content:
    cards = _list(msg, "contacts", "message")
    names: list[str] = []
    for raw_card in cards:
        card = _dict(raw_card, "contact card")
        name = _optional_dict(card, "name", "contact card")
        formatted = _str(name, "formatted_name", "contact name")
        if formatted:
            names.append(formatted)
    return _Content(", ".join(names) or None, data={"contacts": cards})


def _interactive_content(msg: dict[str, Any]) -> _Content:
    interactive = _dict(msg.get("interactive"), "interactive")
    reply_type = _str(interactive, "type", "interactive") or "unknown"
    reply = interactive.get(reply_type)
    details: dict[str, Any] = {"type": reply_type}
    text = None
    if isinstance(reply, dict):
        for key in ("id", "title", "description", "name", "body"):
            value = _str(reply, key, reply_type)
            if value is not None:
                details[key] = value
        text = details.get("title") or details.get("body")
        response = reply.get("response_json")
        if isinstance(response, str):
            try:
                details["response"] = json.loads(response)
            except (ValueError, RecursionError):
                details["response"] = response
        elif response is not None:
            details["response"] = response
    else:
        details["raw"] = interactive
    return _Content(text, data={"interactive": details})


def _button_content(msg: dict[str, Any]) -> _Content:
    button = _dict(msg.get("button"), "button")
    return _Content(_str(button, "text", "button"), data={"button": button})


def _order_content(msg: dict[str, Any]) -> _Content:
    order = _dict(msg.get("order"), "order")
    _list(order, "product_items", "order")
    return _Content(_str(order, "text", "order"), data={"order": order})


def _system_content(msg: dict[str, Any]) -> _Content:
    system = _dict(msg.get("system"), "system")
    return _Content(_str(system, "body", "system"), kind=Kind.SYSTEM, data={"system": system})


def _unsupported_content(msg: dict[str, Any]) -> _Content:
    data: dict[str, Any] = {"raw": msg}
    if "unsupported" in msg:
        data["unsupported"] = msg["unsupported"]
    return _Content(kind=Kind.UNSUPPORTED, data=data)


_READERS: dict[str, Callable[[dict[str, Any]], _Content]] = {
    "text": _text_content,
    "image": _media_content,
    "audio": _media_content,
    "video": _media_content,
    "document": _media_content,
    "sticker": _media_content,
    "location": _location_content,
    "contacts": _contacts_content,
    "interactive": _interactive_content,
    "button": _button_content,
    "order": _order_content,
    "system": _system_content,
    "unsupported": _unsupported_content,
}


# -- helpers --------------------------------------------------------------------


_ADDRESSES: dict[tuple[str, str, str | None], Address] = {}
_PHONE = "phone"
_WHATSAPP = "whatsapp"


def _address(kind: str, value: str, name: str | None) -> Address:
    """`Address` from a cache: the same customers write again and again.

    Addresses are immutable values, so sharing one instance is safe; building
    and normalising one costs more than the rest of a message's parsing.
    """
    key = (kind, value, name)
    found = _ADDRESSES.get(key)
    if found is None:
        if kind == _PHONE and not value.lstrip().startswith("+"):
            # Meta's wa_id, "from" and display_phone_number are international numbers
            # without "+"; saying so keeps a history's default region from misreading
            # them (and keeps this cache right whatever the region).
            value = "+" + value.lstrip()
        found = Address(kind=kind, value=value, name=name)
        if len(_ADDRESSES) >= 8192:
            _ADDRESSES.clear()
        _ADDRESSES[key] = found
    return found


_BUSINESSES: dict[tuple[str, str | None], tuple[str, str, Address | None]] = {}


def _business(account: str, display: str | None) -> tuple[str, str, Address | None]:
    """Account, thread key and business address of a phone number (cached)."""
    key = (account, display)
    found = _BUSINESSES.get(key)
    if found is None:
        address = None
        if display:
            try:
                address = _address(_PHONE, display, None)
            except PayloadError:
                # A display number we cannot normalise costs us the business
                # address only; the customer's message must still be kept.
                address = None
        found = (account, f"wa:{account}", address)
        if len(_BUSINESSES) >= 1024:
            _BUSINESSES.clear()
        _BUSINESSES[key] = found
    return found


def _with_new_phone(
    contact: tuple[Address, ...], phone: str | None, name: str | None
) -> tuple[Address, ...]:
    """Link the new number announced by a ``user_changed_number`` system message."""
    if not phone:
        return contact
    try:
        address = _address(_PHONE, phone, name)
    except PayloadError:
        return contact
    return contact if address in contact else (*contact, address)


def _error_text(errors: Any) -> str | None:
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    first = errors[0]
    code = first.get("code")
    title = first.get("title") or first.get("message")
    parts = [str(p) for p in (code, title) if p not in (None, "")]
    return " ".join(parts) or None


def _hex_digest(value: str | None) -> str | None:
    """Meta sends media hashes base64-encoded in webhooks and hex in the media API."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 64:
        try:
            bytes.fromhex(text)
        except ValueError:
            pass
        else:
            return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _opt_tuple(address: Address | None) -> tuple[Address, ...]:
    return () if address is None else (address,)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(
            f"{what}: expected an object, got {type(value).__name__}", channel=_CHANNEL
        )
    return value


def _optional_dict(parent: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise PayloadError(
            f"{what}.{key}: expected an object, got {type(value).__name__}", channel=_CHANNEL
        )
    return value


def _list(parent: Mapping[str, Any], key: str, what: str, *, required: bool = False) -> list[Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{what}.{key} is required", channel=_CHANNEL)
        return []
    if not isinstance(value, list):
        raise PayloadError(
            f"{what}.{key}: expected a list, got {type(value).__name__}", channel=_CHANNEL
        )
    return value


def _str(parent: Mapping[str, Any], key: str, what: str, *, required: bool = False) -> str | None:
    value = parent.get(key)
    if type(value) is str and value:  # the common cases, first and cheap
        return value
    if value is None and not required:
        return None
    return _str_slow(value, key, what, required)


def _str_slow(value: Any, key: str, what: str, required: bool) -> str | None:
    if isinstance(value, str):
        if value or not required:
            return value or None
    elif value is None:
        pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # ids and numbers sometimes arrive as JSON numbers
    else:
        raise PayloadError(
            f"{what}.{key}: expected a string, got {type(value).__name__}", channel=_CHANNEL
        )
    if required:
        raise PayloadError(f"{what}.{key} is required", channel=_CHANNEL)
    return None


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return parse_epoch(value, channel=_CHANNEL)
