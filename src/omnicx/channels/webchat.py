"""WebChat: the reference channel, for a company's own website chat widget.

The wire protocol is omnicx's own and is specified in
``docs/channels/webchat.md``: a JSON object ``{"site": ..., "events": [...]}``
signed with HMAC-SHA256 in the ``X-Omnicx-Signature`` header
(``sha256=<hex>`` of the raw body under the shared secret).

Event types: ``session.started``, ``session.ended``, ``message`` (from the
visitor or an agent), ``message.delivered`` / ``message.read`` (status of an
agent message), ``message.edited`` and ``message.deleted``. Unknown types are
kept as interactions of kind ``unsupported``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import attrs
from dateutil import parser as dateparser

from .._enums import AddressKind, Channel, Direction, EventKind, Kind, Status
from .._errors import PayloadError
from .._events import ChannelEvent, MessageEvent, StreamPosition, UpdateEvent
from .._identity import check_region, current_region, normalise_phone
from .._models import Address, Attachment, utc
from ._common import (
    expect,
    get_header,
    hmac_sha256_hex,
    load_json,
    parse_epoch,
    require_secret,
    verify_hmac_sha256,
)

__all__ = ["WebChat"]

SIGNATURE_HEADER = "X-Omnicx-Signature"
_CHANNEL = "webchat"
_STATUS_TYPES = {"message.delivered": Status.DELIVERED, "message.read": Status.READ}
_UPDATE_TYPES = {"message.edited": EventKind.EDITED, "message.deleted": EventKind.REVOKED}


@attrs.frozen(kw_only=True)
class WebChat:
    """The website chat channel.

    ``secret`` is the HMAC key shared with the widget's backend; ``site``
    names the website (the channel's account). ``default_region`` lets
    visitors type national phone numbers (``"CH"`` reads ``079 123 45 67``);
    without it, the history's (``omnicx.open(..., default_region="CH")``) applies.
    """

    secret: str | bytes = attrs.field(repr=False, validator=require_secret)
    site: str = "default"
    default_region: str | None = attrs.field(default=None, converter=check_region)
    channel: ClassVar[Channel] = Channel.WEBCHAT

    @property
    def account(self) -> str:
        return self.site

    @property
    def _key(self) -> bytes:
        return self.secret.encode() if isinstance(self.secret, str) else self.secret

    def sign(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate ``body`` (for the widget backend and for tests)."""
        return {SIGNATURE_HEADER: "sha256=" + hmac_sha256_hex(self._key, body)}

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        verify_hmac_sha256(
            self._key, body, get_header(headers, SIGNATURE_HEADER), what=SIGNATURE_HEADER
        )

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        document = expect(load_json(body, channel=_CHANNEL), dict, "body", channel=_CHANNEL)
        site = document.get("site", self.site)
        if site != self.site:
            raise PayloadError(
                f"payload is for site {site!r}, this channel is {self.site!r}", channel=_CHANNEL
            )
        raw_events = expect(document.get("events"), list, "events", channel=_CHANNEL)
        return [self._event(expect(item, dict, "event", channel=_CHANNEL)) for item in raw_events]

    # -- one event --------------------------------------------------------------

    def _event(self, item: dict[str, Any]) -> ChannelEvent:
        kind = _required(item, "type")
        event_id = _required(item, "id")
        at = _time(item.get("at"))
        if kind in _STATUS_TYPES or kind in _UPDATE_TYPES:
            target = _required(item, "message")
            return UpdateEvent(
                channel=Channel.WEBCHAT,
                account=self.site,
                target=target,
                event_id=event_id,
                kind=EventKind.STATUS if kind in _STATUS_TYPES else _UPDATE_TYPES[kind],
                status=_STATUS_TYPES.get(kind),
                occurred_at=at,
                contact=self._visitor(item, required=False)[0],
                data={k: v for k, v in item.items() if k in ("text", "reason")},
            )
        addresses, name = self._visitor(item, required=True)
        session = _text(item, "session")
        agent = item.get("agent") if isinstance(item.get("agent"), dict) else None
        direction = Direction.INBOUND
        if kind == "message":
            sender = _required(item, "from")
            if sender not in ("visitor", "agent"):
                raise PayloadError(f"message 'from' must be visitor or agent, not {sender!r}",
                                   channel=_CHANNEL)
            direction = Direction.OUTBOUND if sender == "agent" else Direction.INBOUND
            event_kind = Kind.MESSAGE
        elif kind in ("session.started", "session.ended"):
            event_kind = Kind.SESSION
        else:
            event_kind = Kind.UNSUPPORTED
        data: dict[str, Any] = {}
        for key in ("page", "reason", "seq", "user_agent"):
            if key in item:
                data[key] = item[key]
        if agent:
            data["agent"] = {k: agent[k] for k in ("id", "name") if k in agent}
        if event_kind is Kind.UNSUPPORTED:
            data["raw"] = item
        visitor = addresses[0]
        agent_address = Address(kind=AddressKind.USERNAME, value=str(agent.get("id") or "agent"),
                                name=agent.get("name")) if agent else None
        return MessageEvent(
            channel=Channel.WEBCHAT,
            account=self.site,
            external_id=event_id,
            direction=direction,
            kind=event_kind,
            message_type=kind,
            contact=addresses,
            contact_name=name,
            occurred_at=at,
            sender=agent_address if direction is Direction.OUTBOUND else visitor,
            recipients=(visitor,) if direction is Direction.OUTBOUND else (),
            text=_text(item, "text"),
            attachments=tuple(_attachment(a) for a in _list(item, "attachments")),
            reply_to=_text(item, "reply_to"),
            thread_key=f"session:{session}" if session else None,
            status=Status.SENT if direction is Direction.OUTBOUND else None,
            data=data,
            sequence=_sequence(session, item.get("seq")),
        )

    def _visitor(
        self, item: dict[str, Any], *, required: bool
    ) -> tuple[tuple[Address, ...], str | None]:
        visitor = item.get("visitor")
        if visitor is None and not required:
            return (), None
        visitor = expect(visitor, dict, "visitor", channel=_CHANNEL)
        addresses: list[Address] = []
        email = visitor.get("email")
        phone = visitor.get("phone")
        try:
            if email:
                addresses.append(_address(AddressKind.EMAIL, str(email), None))
            if phone:
                addresses.append(_address(AddressKind.PHONE, str(phone),
                                          self.default_region or current_region()))
        except PayloadError as exc:
            raise PayloadError(f"visitor: {exc.message}", channel=_CHANNEL) from exc
        visitor_id = visitor.get("id")
        if visitor_id not in (None, ""):
            addresses.append(_address(AddressKind.WEBCHAT, f"{self.site}/{visitor_id}", None))
        if not addresses:
            raise PayloadError("visitor has neither id, email nor phone", channel=_CHANNEL)
        name = visitor.get("name")
        return tuple(addresses), name if isinstance(name, str) and name else None


@lru_cache(maxsize=4096)
def _address(kind: AddressKind, value: str, region: str | None) -> Address:
    """A visitor's address; cached, since a visitor writes many messages (and parsing a
    phone number is the slowest step of an event)."""
    if kind is AddressKind.PHONE:
        value = normalise_phone(value, region)
    return Address(kind=kind, value=value)


def _required(item: Mapping[str, Any], key: str) -> str:
    value = _text(item, key)
    if value is None:
        raise PayloadError(f"event field {key!r} is required", channel=_CHANNEL)
    return value


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if type(value) is str:  # the common case, checked first: this runs six times an event
        return value or None
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return str(expect(value, str, f"event field {key!r}", channel=_CHANNEL))


def _list(item: Mapping[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    return [] if value is None else list(expect(value, list, key, channel=_CHANNEL))


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_epoch(value, channel=_CHANNEL, what="at")
    text = expect(value, str, "at", channel=_CHANNEL)
    try:
        return utc(dt.datetime.fromisoformat(text))  # C-fast; covers what widgets send
    except ValueError:
        pass
    try:
        return utc(dateparser.isoparse(text))
    except (ValueError, OverflowError) as exc:
        raise PayloadError(f"at: not an ISO 8601 time: {text!r}", channel=_CHANNEL) from exc


def _attachment(value: Any) -> Attachment:
    item = expect(value, dict, "attachment", channel=_CHANNEL)
    size = item.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise PayloadError(f"attachment size must be a non-negative integer, not {size!r}",
                           channel=_CHANNEL)
    return Attachment(
        filename=_text(item, "filename"),
        content_type=_text(item, "content_type") or "application/octet-stream",
        size=size,
        sha256=_text(item, "sha256"),
        ref=_text(item, "url"),
    )


def _sequence(session: str | None, seq: Any) -> StreamPosition | None:
    """A message's place in its session: seq numbers start at 1 and have no holes."""
    if session is None or isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return None
    return StreamPosition(stream=f"session:{session}", number=seq, gap_kind="chat_sequence")
