"""What a channel adapter's parser produces: provider-neutral events.

A parser is a pure function ``(body, headers) -> Sequence[ChannelEvent]``. It
knows the provider's format and nothing about storage; the ingest pipeline
turns events into stored interactions, contacts, conversations and gaps.

- `MessageEvent`: a new interaction (a message, call, note, form, session...).
- `UpdateEvent`: something that happened to an interaction identified by its
  ``external_id``: a delivery status, an edit, a revoke, a reaction. The
  interaction may not have arrived yet; the update then waits for it, listed
  as an open gap.
- `WatermarkEvent`: a status for *every* outbound interaction to a contact on
  a channel and account up to a moment (Messenger's delivery and read
  watermarks), not for one external id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from ._enums import (
    Channel,
    Direction,
    EventKind,
    Kind,
    Status,
    optional_status,
    to_channel,
    to_direction,
    to_event_kind,
    to_kind,
    to_status,
)
from ._errors import PayloadError
from ._models import Address, Attachment, _optional_utc

__all__ = ["ChannelEvent", "MessageEvent", "StreamPosition", "UpdateEvent", "WatermarkEvent"]

_EMPTY: Mapping[str, Any] = {}


@attrs.frozen(kw_only=True)
class StreamPosition:
    """Where a message sits in a numbered stream the provider promises has no holes.

    ``stream`` names the stream within the channel's account (a chat session
    ``"session:42"``, a mailbox ``"INBOX;uidvalidity=1700000000"``) and
    ``number`` is the message's place in it (a chat ``seq``, an IMAP UID).
    The ingest keeps each stream's highest number and opens a gap of kind
    ``gap_kind`` for every number skipped; the gap closes when a message with
    that number arrives. ``first`` is where a stream starts (``None``: at the
    first number seen, for streams such as IMAP UIDs that may begin anywhere).
    """

    stream: str
    number: int
    gap_kind: str = "sequence"
    first: int | None = 1


@attrs.frozen(kw_only=True)
class MessageEvent:
    """A new interaction as the provider reported it.

    ``contact`` lists the customer's addresses, the most specific first (for
    WhatsApp the business-scoped user id, then the phone number): they are
    all linked to one contact. For outbound messages the customer is the
    recipient, for inbound the sender.

    Threading hints, in the order the pipeline tries them:

    1. ``thread_refs``: external ids of earlier interactions in the same
       thread (email References, oldest first). The nearest one already
       stored decides the conversation.
    2. ``thread_key``: a key scoped to the contact, channel and account (a
       chat session id, a normalised email subject). With ``thread_window``,
       a conversation only matches if it was active within that window.
    3. Otherwise a new conversation starts.

    ``occurred_at`` is the provider's timestamp; ``None`` means the provider
    gave none, and the receive time is used. ``sequence`` places the message
    in a numbered stream whose holes are gaps (see `StreamPosition`).
    ``watermarked``: the channel reports what happened to outbound messages
    as watermarks (`WatermarkEvent`); one that arrived before this outbound
    message (webhooks come out of order) applies to it when it is stored.
    """

    channel: Channel = attrs.field(converter=to_channel)
    account: str
    external_id: str
    direction: Direction = attrs.field(converter=to_direction)
    contact: tuple[Address, ...] = attrs.field(validator=attrs.validators.min_len(1))
    contact_name: str | None = None
    kind: Kind = attrs.field(default=Kind.MESSAGE, converter=to_kind)
    message_type: str | None = None
    occurred_at: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    sender: Address | None = None
    recipients: tuple[Address, ...] = ()
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    thread_refs: tuple[str, ...] = ()
    thread_key: str | None = None
    thread_window: dt.timedelta | None = None
    status: Status | None = attrs.field(
        default=None, converter=optional_status
    )
    data: Mapping[str, Any] = _EMPTY
    sequence: StreamPosition | None = None
    watermarked: bool = False
    # The bytes of ``attachments`` the payload carries (an email's parts), by their
    # hex SHA-256; the history keeps them in its blob store (`History.attachment`).
    attachment_bytes: Mapping[str, bytes] = attrs.field(default=_EMPTY, repr=False)


@attrs.frozen(kw_only=True)
class UpdateEvent:
    """Something that happened to the interaction ``target`` (its external id).

    ``event_id`` makes the update idempotent: the same ``(channel, account,
    target, event_id)`` is stored once however often it is delivered. For a
    status it is typically ``"status:<status>"``; for a reaction or an edit,
    the provider's id of the reaction or edit message.
    """

    channel: Channel = attrs.field(converter=to_channel)
    account: str
    target: str
    event_id: str
    kind: EventKind = attrs.field(converter=to_event_kind)
    occurred_at: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    status: Status | None = attrs.field(
        default=None, converter=optional_status
    )
    error: str | None = None
    contact: tuple[Address, ...] = ()
    data: Mapping[str, Any] = _EMPTY


@attrs.frozen(kw_only=True)
class WatermarkEvent:
    """Every outbound interaction to ``contact`` sent at or before ``up_to`` reached ``status``.

    Providers such as Messenger report delivery and reads as a watermark
    ("everything you sent before this moment was read") rather than per
    message. The ingest moves each such interaction of the contact (its whole
    merge group) on this channel and account forward to ``status``, never
    back, and records one status event on each, so the timeline and
    `History.statuses` show it like any other status. ``through`` names an
    external id instead of a time (Instagram's read receipts carry the id of
    the message seen): the watermark is then that interaction's time. An
    unknown contact or message marks nothing.
    """

    channel: Channel = attrs.field(converter=to_channel)
    account: str
    contact: tuple[Address, ...] = attrs.field(validator=attrs.validators.min_len(1))
    status: Status = attrs.field(converter=to_status)
    up_to: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    through: str | None = None
    occurred_at: dt.datetime | None = attrs.field(default=None, converter=_optional_utc)
    data: Mapping[str, Any] = _EMPTY

    def __attrs_post_init__(self) -> None:
        if (self.up_to is None) == (self.through is None):
            raise PayloadError("a watermark needs up_to or through, not both", channel=str(
                self.channel))


ChannelEvent = MessageEvent | UpdateEvent | WatermarkEvent
