"""What `History.send` hands a `Sender`, and what it gets back.

``History.send`` records the outbound interaction *before* calling the
provider (status ``pending``, external id ``omnicx:<uuid>``), calls
``sender.send(Outgoing)``, then stores the provider's id from `SendResult`
so that later status webhooks attach to the interaction. A crash between the
two leaves a visible pending interaction, never a message sent and forgotten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._enums import Status, to_status
from ._models import Address, Interaction, _optional_utc

__all__ = ["Outgoing", "SendResult"]

_EMPTY: Mapping[str, Any] = {}


@attrs.frozen(kw_only=True)
class Outgoing:
    """An outbound message, resolved to a contact and an address.

    ``client_id`` is omnicx's own id for the message, usable as an
    idempotency key with providers that accept one. ``last_inbound_at`` is
    when the customer last wrote on this channel and account (for
    customer-service windows such as WhatsApp's 24 hours). ``reply_to`` is
    the interaction being answered; ``references`` the external ids of the
    conversation so far, oldest first (email References). ``options`` holds
    channel-specific arguments (a WhatsApp template, media, ...).
    """

    client_id: str
    contact_id: int
    to: Address
    text: str | None = None
    subject: str | None = None
    html: str | None = None
    reply_to: Interaction | None = None
    references: tuple[str, ...] = ()
    last_inbound_at: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    options: Mapping[str, Any] = _EMPTY


@attrs.frozen(kw_only=True)
class SendResult:
    """The provider's answer: its id for the message and what it said.

    ``message_type``, ``text``, ``subject`` and ``data`` (a rendered template,
    the headers a mail server was given) are recorded on the status event
    that marks the message sent; the interaction itself keeps what was asked
    for, so history is never rewritten.
    """

    external_id: str
    status: Status = attrs.field(default=Status.SENT, converter=to_status)
    occurred_at: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    message_type: str | None = None
    text: str | None = None
    subject: str | None = None
    data: Mapping[str, Any] = _EMPTY
