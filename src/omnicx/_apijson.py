"""The read API's JSON: omnicx's models as the objects `omnicx._openapi` describes.

Kept apart from the routing (``omnicx._api``) so that the shapes live in one
place, next to nothing else, and a test can hold every one of them against
its schema. Times are ISO 8601 in UTC with a ``Z``; enums are their string
values; an attachment's ``ref`` (a provider media URL or blob key, which
may carry a token) is left out; provider ``data`` is made JSON-safe (bytes
become a ``"<n bytes>"`` note, never the bytes).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any

from ._feed import ChangePage
from ._history import Page
from ._lifecycle import ConversationChange, ConversationState
from ._models import (
    Address,
    Attachment,
    Contact,
    Conversation,
    Interaction,
    InteractionEvent,
    StatusChange,
)
from .storage._feedrows import Change

__all__ = [
    "change",
    "change_page",
    "contact",
    "conversation",
    "iso",
    "jsonable",
    "search_hit",
    "timeline_page",
    "with_details",
]

JSON = dict[str, Any]


def iso(value: dt.datetime | None) -> str | None:
    """``2026-11-03T08:00:10Z`` (microseconds when there are any); ``None`` stays."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: mappings, lists, strings, finite numbers, null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return str(value)


def _enum(value: enum.Enum | None) -> Any:
    return None if value is None else value.value


def address(found: Address) -> JSON:
    return {"kind": found.kind.value, "value": found.value, "name": found.name}


def attachment(found: Attachment) -> JSON:
    return {"filename": found.filename, "content_type": found.content_type,
            "size": found.size, "sha256": found.sha256}


def contact(found: Contact) -> JSON:
    return {"id": found.id, "display_name": found.display_name,
            "addresses": [address(a) for a in found.addresses], "crm_id": found.crm_id,
            "created_at": iso(found.created_at), "merged_into": found.merged_into,
            "erased": found.erased}


def interaction(found: Interaction) -> JSON:
    return {
        "id": found.id, "contact_id": found.contact_id,
        "conversation_id": found.conversation_id, "channel": found.channel.value,
        "account": found.account, "direction": found.direction.value,
        "kind": found.kind.value, "message_type": found.message_type,
        "external_id": found.external_id, "occurred_at": iso(found.occurred_at),
        "received_at": iso(found.received_at),
        "sender": address(found.sender) if found.sender is not None else None,
        "recipients": [address(a) for a in found.recipients], "subject": found.subject,
        "text": found.text, "html": found.html,
        "attachments": [attachment(a) for a in found.attachments],
        "reply_to": found.reply_to, "status": _enum(found.status),
        "data": jsonable(found.data), "erased": found.erased,
    }


def status_change(found: StatusChange) -> JSON:
    return {"id": found.id, "status": found.status.value,
            "occurred_at": iso(found.occurred_at), "received_at": iso(found.received_at),
            "error": found.error, "data": jsonable(found.data)}


def interaction_event(found: InteractionEvent) -> JSON:
    return {"id": found.id, "kind": found.kind.value, "external_id": found.external_id,
            "occurred_at": iso(found.occurred_at), "received_at": iso(found.received_at),
            "data": jsonable(found.data)}


def with_details(found: Interaction, statuses: list[StatusChange],
                 events: list[InteractionEvent]) -> JSON:
    """One interaction with its delivery statuses and its events (edits, reactions...)."""
    return {**interaction(found), "statuses": [status_change(s) for s in statuses],
            "events": [interaction_event(e) for e in events]}


def timeline_page(page: Page) -> JSON:
    return {"items": [interaction(i) for i in page.items], "next_cursor": page.next_cursor}


def change(found: Change) -> JSON:
    return {"id": found.id, "cursor": found.cursor, "kind": found.kind,
            "at": iso(found.at), "contact_id": found.contact_id,
            "interaction_id": found.interaction_id, "data": jsonable(found.data)}


def change_page(page: ChangePage) -> JSON:
    return {"items": [change(c) for c in page.items], "next_cursor": page.next_cursor}


def _conversation_change(found: ConversationChange) -> JSON:
    return {"id": found.id, "action": found.action, "occurred_at": iso(found.occurred_at),
            "state": _enum(found.state), "assignee": found.assignee, "team": found.team,
            "by": found.by, "reason": found.reason, "until": iso(found.until)}


def conversation(found: Conversation, state: ConversationState) -> JSON:
    """A conversation with where it stands now and every recorded change of it."""
    return {
        "id": found.id, "contact_id": found.contact_id, "channel": found.channel.value,
        "account": found.account, "subject": found.subject,
        "started_at": iso(found.started_at), "last_activity_at": iso(found.last_activity_at),
        "state": state.state.value, "assignee": state.assignee, "team": state.team,
        "snoozed_until": iso(state.snoozed_until), "reopened": state.reopened,
        "handovers": state.handovers,
        "changes": [_conversation_change(c) for c in state.changes],
    }


def search_hit(hit: Any) -> JSON:
    """A `SearchHit` (``history.search``): the interaction, its score, snippet, highlights."""
    return {"interaction": interaction(hit.interaction), "score": float(hit.score),
            "snippet": hit.snippet,
            "highlights": [[int(a), int(b)] for a, b in getattr(hit, "highlights", ())]}
