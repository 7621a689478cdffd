"""String enums that tolerate values omnicx has never heard of.

Providers add channels, statuses and message types without asking us. An
unknown value must be kept, not rejected: ``Status("deleted")`` returns a
pseudo-member whose ``.value`` is ``"deleted"`` and which compares equal to
the string, so it round-trips through storage unchanged.
"""

from __future__ import annotations

import enum
from typing import Any, Self

__all__ = [
    "AddressKind",
    "Channel",
    "Direction",
    "EventKind",
    "Kind",
    "Status",
    "optional_status",
    "status_rank",
    "to_address_kind",
    "to_channel",
    "to_direction",
    "to_event_kind",
    "to_kind",
    "to_status",
]


# Pseudo-members already made, so a value omnicx stores itself (the event kind
# "conversation", a provider's own status) costs a dict lookup when millions
# of rows are read back, not a walk over the members and a new object. Bounded:
# the values come from outside, and past the bound they are simply made anew.
_PSEUDO: dict[tuple[type, str], Any] = {}
_PSEUDO_LIMIT = 4096


class OpenEnum(enum.StrEnum):
    """A `StrEnum` whose lookup of an unknown string yields a pseudo-member."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str) or not value:
            return None
        known = _PSEUDO.get((cls, value))
        if known is not None:
            return known
        lowered = value.lower()
        for member in cls:
            if member.value == lowered:
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value.upper()
        pseudo._value_ = value
        if len(_PSEUDO) < _PSEUDO_LIMIT:
            _PSEUDO[cls, value] = pseudo
        return pseudo

    @classmethod
    def coerce(cls, value: str | Self) -> Self:
        """Return ``value`` as a member (or pseudo-member) of this enum."""
        return value if isinstance(value, cls) else cls(value)


class Channel(OpenEnum):
    """The medium an interaction travelled through."""

    EMAIL = "email"
    WHATSAPP = "whatsapp"
    WEBCHAT = "webchat"
    SMS = "sms"
    TELEGRAM = "telegram"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    PHONE = "phone"
    VIDEO = "video"
    WEBFORM = "webform"
    LETTER = "letter"
    FAX = "fax"


class Direction(OpenEnum):
    """Who spoke: the customer (inbound) or the business (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Kind(OpenEnum):
    """What an interaction is, independent of its channel."""

    MESSAGE = "message"
    CALL = "call"
    NOTE = "note"
    FORM = "form"
    SESSION = "session"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"


class AddressKind(OpenEnum):
    """The namespace of an `Address` value."""

    PHONE = "phone"
    EMAIL = "email"
    WHATSAPP = "whatsapp"  # WhatsApp business-scoped user id (BSUID)
    WEBCHAT = "webchat"  # a website visitor id
    TELEGRAM = "telegram"
    MESSENGER = "messenger"  # a Page-scoped id (PSID)
    INSTAGRAM = "instagram"  # an Instagram-scoped id (IGSID)
    USERNAME = "username"


class Status(OpenEnum):
    """Delivery status of an (outbound) interaction."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    RECEIVED = "received"
    # A call's progress (Twilio Voice and other telephony): ringing, answered, ended.
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


class EventKind(OpenEnum):
    """What happened to an existing interaction after it was stored."""

    STATUS = "status"
    EDITED = "edited"
    REVOKED = "revoked"
    REACTED = "reacted"
    UNREACTED = "unreacted"
    RECORDED = "recorded"  # a call recording became available
    TRANSCRIBED = "transcribed"  # a recording's transcription


# The current status only moves forward along these ranks: a late "sent"
# never overwrites "read". "failed" outranks "sent" (a message can fail after
# the provider accepted it) but not "delivered": a device that received the
# message cannot make it fail afterwards. Unknown statuses have rank -1 and
# are kept as events without changing the current status.
_RANKS = {
    Status.PENDING: 0,
    Status.SENT: 10,
    Status.FAILED: 15,
    Status.DELIVERED: 20,
    Status.RECEIVED: 20,
    Status.READ: 30,
    Status.PLAYED: 40,
    # A call rings, is answered, ends: ending (however it ends) outranks the rest.
    Status.RINGING: 5,
    Status.IN_PROGRESS: 8,
    Status.COMPLETED: 50,
    Status.BUSY: 50,
    Status.NO_ANSWER: 50,
    Status.CANCELED: 50,
}


def status_rank(status: Status | str | None) -> int:
    """The position of ``status`` on the forward-only ladder (-1 when unknown)."""
    if status is None:
        return -1
    return _RANKS.get(to_status(status), -1)


# Converters for attrs fields. Plain functions (mypy's attrs plugin wants
# named functions) with a fast path: on hot paths the value is usually a
# member already, and an enum call costs a microsecond we pay per field.


def to_channel(value: Channel | str) -> Channel:
    return value if type(value) is Channel else Channel(value)


def to_direction(value: Direction | str) -> Direction:
    return value if type(value) is Direction else Direction(value)


def to_kind(value: Kind | str) -> Kind:
    return value if type(value) is Kind else Kind(value)


def to_address_kind(value: AddressKind | str) -> AddressKind:
    return value if type(value) is AddressKind else AddressKind(value)


def to_event_kind(value: EventKind | str) -> EventKind:
    return value if type(value) is EventKind else EventKind(value)


def to_status(value: Status | str) -> Status:
    return value if type(value) is Status else Status(value)


def optional_status(value: Status | str | None) -> Status | None:
    """Converter: ``None`` stays ``None``, anything else becomes a `Status`."""
    return None if value is None else to_status(value)
