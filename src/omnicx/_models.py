"""The value classes of a contact history. No I/O, no provider knowledge.

Models are frozen, keyword-only attrs classes. They are values: two
interactions with equal fields are equal. Normalisation that must always hold
(an `Address` value in canonical form, timestamps aware and in UTC) is done by
converters; turning rows or provider JSON into models happens elsewhere (the
stores and the channel adapters).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._enums import (
    AddressKind,
    Channel,
    Direction,
    EventKind,
    Kind,
    Status,
    optional_status,
    to_address_kind,
    to_channel,
    to_direction,
    to_event_kind,
    to_kind,
    to_status,
)
from ._identity import normalise

__all__ = [
    "Address",
    "Attachment",
    "Contact",
    "Conversation",
    "Interaction",
    "InteractionEvent",
    "StatusChange",
    "utc",
]

_EMPTY: Mapping[str, Any] = {}


def utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    tz = value.tzinfo
    if tz is dt.UTC:
        return value
    if tz is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _optional_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)


@attrs.frozen(kw_only=True)
class Address:
    """One way to reach a person: a kind and its normalised value.

    ``Address(kind="phone", value="+41 79 123 45 67")`` stores
    ``"+41791234567"``. ``name`` is the display name seen with the address; it
    is not part of the identity (two addresses with different names are equal).
    """

    kind: AddressKind = attrs.field(converter=to_address_kind)
    value: str
    name: str | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        # The value's canonical form depends on the kind, so it cannot be a
        # per-field converter; a frozen class sets it the one way it can.
        normalised = normalise(self.kind, self.value)
        if normalised != self.value:
            object.__setattr__(self, "value", normalised)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@attrs.frozen(kw_only=True)
class Attachment:
    """A file that came with an interaction. The bytes live in a blob store."""

    filename: str | None = None
    content_type: str = "application/octet-stream"
    size: int | None = None
    sha256: str | None = None
    ref: str | None = None  # provider media id, URL or blob-store key
    # Where the history keeps the bytes (`History.attachment` reads them): a key of
    # its blob store, whose file is sealed under the contact's data key with a key.
    blob: str | None = None


@attrs.frozen(kw_only=True)
class Contact:
    """A person (or organisation) the business talks to.

    ``merged_into`` is set when this contact was merged into another; its
    interactions then show in the other contact's timeline. Merges are
    recorded, never destructive, and can be undone. ``tenant`` is the tenant
    the contact belongs to (``None``: the default tenant; see ``docs/tenancy.md``).
    """

    id: int
    display_name: str | None = None
    addresses: tuple[Address, ...] = ()
    crm_id: str | None = None
    created_at: dt.datetime = attrs.field(converter=utc)
    merged_into: int | None = None
    erased: bool = False
    tenant: str | None = None


@attrs.frozen(kw_only=True)
class Conversation:
    """A thread of interactions on one channel: a chat session, an email thread."""

    id: int
    contact_id: int
    channel: Channel = attrs.field(converter=to_channel)
    account: str
    thread_key: str | None = None
    subject: str | None = None
    started_at: dt.datetime = attrs.field(converter=utc)
    last_activity_at: dt.datetime = attrs.field(converter=utc)


# No ``__weakref__`` slot: with one, CPython refuses the ``__class__`` swap
# that the storage layer's row decoder uses to build these cheaply (see
# omnicx.storage._sql.interactions_from_rows); a value is never weakly held.
@attrs.frozen(kw_only=True, weakref_slot=False)
class Interaction:
    """One message, call, note or form submission, in or out.

    ``occurred_at`` is the provider's time (when the customer sent it),
    ``received_at`` when omnicx stored it. ``external_id`` is the provider's
    id, unique per ``(channel, account)``. ``reply_to`` is the external id of
    the interaction this one answers. ``status`` is the furthest delivery
    status reached so far. ``data`` keeps provider details that have no field
    of their own (a location, a referral, forwarded flags).
    """

    id: int
    contact_id: int
    conversation_id: int
    channel: Channel = attrs.field(converter=to_channel)
    account: str
    direction: Direction = attrs.field(converter=to_direction)
    kind: Kind = attrs.field(converter=to_kind)
    message_type: str | None = None
    external_id: str
    occurred_at: dt.datetime = attrs.field(converter=utc)
    received_at: dt.datetime = attrs.field(converter=utc)
    sender: Address | None = None
    recipients: tuple[Address, ...] = ()
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    status: Status | None = attrs.field(
        default=None, converter=optional_status
    )
    data: Mapping[str, Any] = _EMPTY
    raw_id: int | None = None
    erased: bool = False


# Building an `Interaction` from values that are canonical already (a stored row, a
# new message's event) need not run attrs' ``__init__``, whose converters would run
# again: the values are stored on a plain instance of `InteractionTwin`, a class with
# the very same slots (the same memory layout), whose plain attribute stores cost a
# quarter of calling 22 frozen-slot setters, which then becomes an `Interaction` by
# assigning ``__class__`` (CPython allows it between classes of identical layout).
# `omnicx.storage._sql` decodes rows this way, `omnicx._ingest` new messages;
# tests/test_models.py and tests/test_fast_paths.py check that every field is set
# and that the result equals one built through ``__init__``.
INTERACTION_FIELDS = (
    "id", "contact_id", "conversation_id", "channel", "account", "external_id", "direction",
    "kind", "message_type", "occurred_at", "received_at", "sender", "recipients", "subject",
    "text", "html", "attachments", "reply_to", "status", "data", "raw_id", "erased",
)
InteractionTwin: Any = type("InteractionTwin", (),
                            {"__slots__": getattr(Interaction, "__slots__")})  # noqa: B009
# Swapped once at import, so a layout that stopped matching (a new attrs option)
# fails here, loudly, and never inside a decoder, where a TypeError means a
# tampered row.
object.__new__(InteractionTwin).__class__ = Interaction


@attrs.frozen(kw_only=True)
class StatusChange:
    """A delivery status reported for an interaction (sent, delivered, read...).

    Status changes are append-only events; ``interaction_id`` is ``None``
    while the interaction they refer to has not arrived yet (an open gap).
    """

    id: int
    interaction_id: int | None
    channel: Channel = attrs.field(converter=to_channel)
    account: str
    external_id: str
    status: Status = attrs.field(converter=to_status)
    occurred_at: dt.datetime = attrs.field(converter=utc)
    received_at: dt.datetime = attrs.field(converter=utc)
    error: str | None = None
    data: Mapping[str, Any] = _EMPTY


@attrs.frozen(kw_only=True)
class InteractionEvent:
    """Something that happened to a stored interaction: an edit, a revoke, a reaction.

    Events never overwrite the interaction; they are recorded beside it.
    """

    id: int
    interaction_id: int | None
    channel: Channel = attrs.field(converter=to_channel)
    account: str
    external_id: str
    kind: EventKind = attrs.field(converter=to_event_kind)
    occurred_at: dt.datetime = attrs.field(converter=utc)
    received_at: dt.datetime = attrs.field(converter=utc)
    data: Mapping[str, Any] = _EMPTY
