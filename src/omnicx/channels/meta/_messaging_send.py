"""The Send API of Messenger and Instagram: request bodies, the window, error codes.

Both post ``{"recipient": {"id": <PSID|IGSID>}, "messaging_type": ...,
"message": {...}}`` to ``/{id}/messages`` and answer ``{"recipient_id",
"message_id"}``. The rules that matter to a CRM:

- the **24-hour window**: a free-form message (``messaging_type:
  "RESPONSE"``) is allowed within 24 hours of the customer's last message;
  after that only a **message tag** (``messaging_type: "MESSAGE_TAG"``):
  ``HUMAN_AGENT`` within 7 days (both platforms) and, on Messenger only,
  ``ACCOUNT_UPDATE``, ``CONFIRMED_EVENT_UPDATE`` and
  ``POST_PURCHASE_UPDATE`` at any time. omnicx refuses what Meta would refuse
  before calling it (`WindowClosedError`), and maps Meta's own refusal
  (code 10, subcode 2018278) to the same error;
- the **error codes**: 4, 17, 32 and 613 are rate limits (retried after a
  longer backoff), 1 and 2 transient (retried), 551 ("this person isn't
  available right now"), 100 (bad parameter), 190 (bad token), 200 and 10
  (permissions, the window) permanent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..._errors import ConfigurationError, SendError, WindowClosedError
from ..._outbound import Outgoing
from ._graph import Classify, graph_error

__all__ = [
    "ANYTIME_TAGS",
    "HUMAN_AGENT_WINDOW",
    "PERMANENT_CODES",
    "RETRYABLE_CODES",
    "THROTTLING_CODES",
    "WINDOW",
    "classify",
    "send_body",
]

WINDOW = dt.timedelta(hours=24)
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)
# Tags Messenger accepts outside any window (Instagram accepts none of them).
ANYTIME_TAGS = frozenset({"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"})
THROTTLING_CODES = frozenset({4, 17, 32, 613})
RETRYABLE_CODES = THROTTLING_CODES | {1, 2}
PERMANENT_CODES = frozenset({10, 100, 190, 200, 551})
OUTSIDE_WINDOW = (10, 2018278)
ATTACHMENT_TYPES = frozenset({"image", "video", "audio", "file"})


def classify(channel: str, label: str) -> Classify:
    """The channel's `GraphAPI` classifier: a Graph ``error`` object to its typed error."""

    def error_for(error: Mapping[str, Any], http_status: int) -> SendError:
        text, code, retryable = graph_error(
            error, http_status, channel=channel, label=label,
            retryable_codes=RETRYABLE_CODES, permanent_codes=PERMANENT_CODES)
        if (code, error.get("error_subcode")) == OUTSIDE_WINDOW:
            return WindowClosedError(
                text + ". The customer last wrote more than 24 hours ago: send with a message"
                " tag (tag='HUMAN_AGENT' within 7 days).", channel=channel, code=code)
        return SendError(text, channel=channel,
                         code=code if code is not None else http_status, retryable=retryable)

    return error_for


def send_body(message: Outgoing, *, now: dt.datetime, channel: str, label: str,
              anytime_tags: frozenset[str], tag_echoes: bool = True
              ) -> tuple[dict[str, Any], str]:
    """The Send API body for ``message`` and its message type.

    ``message.options``: ``tag`` (a message tag), ``attachment``
    (``{"type": "image"|"video"|"audio"|"file", "url": ...}`` or
    ``"attachment_id"`` of an uploaded one), ``quick_replies`` and
    ``metadata`` (echoed back in the ``message_echoes`` webhook; defaults to
    omnicx's client id when ``tag_echoes``, so the parser recognises the echo
    of its own send).
    """
    options = message.options
    tag = options.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise ConfigurationError("options['tag'] must be a message tag name")
    check_window(message, now, tag, channel=channel, label=label, anytime_tags=anytime_tags)
    body: dict[str, Any] = {"recipient": {"id": message.to.value}}
    if tag:
        body["messaging_type"] = "MESSAGE_TAG"
        body["tag"] = tag
    else:
        body["messaging_type"] = "RESPONSE"
    content: dict[str, Any] = {}
    attachment = options.get("attachment")
    if attachment is not None:
        if not isinstance(attachment, Mapping):
            raise ConfigurationError("options['attachment'] must be a mapping")
        kind = attachment.get("type")
        if kind not in ATTACHMENT_TYPES:
            raise ConfigurationError(
                f"attachment type must be one of {sorted(ATTACHMENT_TYPES)}, not {kind!r}")
        if attachment.get("attachment_id"):
            payload: dict[str, Any] = {"attachment_id": str(attachment["attachment_id"])}
        elif attachment.get("url"):
            payload = {"url": str(attachment["url"]), "is_reusable": True}
        else:
            raise ConfigurationError("an attachment needs a url or an attachment_id")
        content["attachment"] = {"type": kind, "payload": payload}
        message_type = str(kind)
        if message.text:
            raise ConfigurationError(
                f"{label} sends text and an attachment as two messages: send them one by one")
    elif message.text:
        content["text"] = message.text
        message_type = "text"
    else:
        raise ConfigurationError(f"a {label} message needs text or options['attachment']")
    quick = options.get("quick_replies")
    if quick is not None:
        content["quick_replies"] = list(quick)
    metadata = options.get("metadata", message.client_id if tag_echoes else None)
    if metadata:
        content["metadata"] = str(metadata)[:1000]
    body["message"] = content
    return body, message_type


def check_window(message: Outgoing, now: dt.datetime, tag: str | None, *, channel: str,
                 label: str, anytime_tags: frozenset[str]) -> None:
    """Raise `WindowClosedError` unless Meta would accept this message now."""
    if tag in anytime_tags:
        return
    last = message.last_inbound_at
    if tag is None:
        limit, rule = WINDOW, "24-hour"
    elif tag == "HUMAN_AGENT":
        limit, rule = HUMAN_AGENT_WINDOW, "7-day HUMAN_AGENT"
    else:
        raise ConfigurationError(
            f"{label} does not accept the message tag {tag!r}; use HUMAN_AGENT"
            + (f" or one of {sorted(anytime_tags)}" if anytime_tags else ""))
    if last is not None and now - last < limit:
        return
    when = "never wrote" if last is None else f"last wrote at {last.isoformat()}"
    raise WindowClosedError(
        f"cannot send this {label} message: the customer {when}, outside the {rule} window."
        + ("" if tag else " Within 7 days a human agent may answer with tag='HUMAN_AGENT'."),
        channel=channel, code=OUTSIDE_WINDOW[0])
