"""The rows of the change feed and the webhook outbox, as every backend moves them.

A store keeps these rows and hands out commit-ordered positions; what goes
into them (which kinds, which data, the retry schedule) is decided once, in
`omnicx._feed` and `omnicx._webhooks`, so every backend behaves the same.
Times are aware UTC datetimes here and integer microseconds in the tables.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from .._models import utc

__all__ = [
    "AttemptRecord",
    "Change",
    "DeliveryRecord",
    "NewChange",
    "WebhookRecord",
    "encode_cursor",
]


@attrs.frozen(kw_only=True)
class NewChange:
    """A change a transaction made, before the store gives it its position.

    ``data`` is the JSON text of the change's details (never personal content).
    """

    kind: str
    at: dt.datetime = attrs.field(converter=utc)
    contact_id: int | None = None
    interaction_id: int | None = None
    data: str = "{}"


@attrs.frozen(kw_only=True)
class Change:
    """One change to the history, at its position ``id`` in the feed.

    ``kind`` is a `omnicx.ChangeKind` value; ``at`` when omnicx recorded it;
    ``contact_id``/``interaction_id`` whom it concerns (``None`` when
    nothing); ``data`` the details of the kind (see ``docs/crm-sync.md``),
    never message content. Stores build it straight from their rows.
    """

    id: int
    kind: str
    at: dt.datetime = attrs.field(converter=utc)
    contact_id: int | None = None
    interaction_id: int | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def cursor(self) -> str:
        """The cursor that resumes the feed right after this change."""
        return encode_cursor(self.id)


def encode_cursor(position: int) -> str:
    """The opaque feed cursor of a position."""
    return base64.urlsafe_b64encode(f"feed:{position}".encode()).decode().rstrip("=")


@attrs.frozen(kw_only=True)
class WebhookRecord:
    """A webhook subscription as stored.

    ``events`` is ``None`` for every kind. ``secret`` is the signing secret in
    the clear, or ``None`` with ``sealed`` its ciphertext (a key is set).
    """

    id: int
    url: str
    events: frozenset[str] | None
    created_at: dt.datetime = attrs.field(converter=utc)
    secret: str | None = None
    sealed: bytes | None = None
    active: bool = True


@attrs.frozen(kw_only=True)
class DeliveryRecord:
    """One change to send to one webhook (the outbox row), with its progress."""

    id: int
    webhook_id: int
    change_id: int
    contact_id: int | None
    state: str  # pending | delivered | dead
    attempts: int
    created_at: dt.datetime = attrs.field(converter=utc)
    next_attempt_at: dt.datetime = attrs.field(converter=utc)
    delivered_at: dt.datetime | None = None
    last_error: str | None = None


@attrs.frozen(kw_only=True)
class AttemptRecord:
    """One try at a delivery, for the delivery log.

    ``status_code`` is the receiver's HTTP status (``None`` when no answer
    came: refused, timed out); ``error`` says what went wrong, ``None`` on success.
    """

    delivery_id: int
    attempted_at: dt.datetime = attrs.field(converter=utc)
    status_code: int | None
    error: str | None
    duration: dt.timedelta
