"""The outbound half of the WhatsApp channel: the Graph API over httpx.

- `error_from_object` is WhatsApp's map of Graph error codes: which are
  throttling, which transient, which permanent, and 131047 (the window is
  closed) as `WindowClosedError`. The client with its retries is Meta's
  shared `omnicx.channels.meta._graph.GraphAPI`.
- `message_payload` turns an `Outgoing` into the ``/messages`` request body:
  text, template, media (link or uploaded id), interactive, reply context,
  and refuses free-form messages outside the 24-hour customer-service window.

A ``POST /messages`` that timed out after the request was sent is *not*
retried: the Cloud API has no idempotency key, and a customer receiving the
same message twice is worse than a `SendError(retryable=True)` the caller
can look into. Connection failures (nothing was sent) are retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..._enums import AddressKind
from ..._errors import ConfigurationError, SendError, WindowClosedError
from ..._outbound import Outgoing
from ._graph import graph_error

__all__ = [
    "RETRYABLE_CODES",
    "THROTTLING_CODES",
    "WINDOW",
    "error_from_object",
    "message_payload",
]

_CHANNEL = "whatsapp"
WINDOW = dt.timedelta(hours=24)

# Meta's throttling codes: app/account/pair rate limits. Back off longer.
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
# Transient failures on Meta's side: retry with ordinary backoff.
RETRYABLE_CODES = THROTTLING_CODES | {1, 2, 131000, 131016, 133004}
WINDOW_CLOSED_CODE = 131047
# Never retried, even behind an HTTP 5xx: a bad token, a bad request, an
# undeliverable recipient, a closed window do not heal by waiting.
PERMANENT_CODES = frozenset({100, 190, 131026, 131047})
MEDIA_CAPTION_TYPES = frozenset({"image", "video", "document"})
MEDIA_TYPES = frozenset({"image", "video", "document", "audio", "sticker"})


def error_from_object(error: Mapping[str, Any], http_status: int) -> SendError:
    """The `SendError` for a Graph API ``error`` object (returned, not raised)."""
    text, code, retryable = graph_error(
        error, http_status, channel=_CHANNEL, label="WhatsApp",
        retryable_codes=RETRYABLE_CODES, permanent_codes=PERMANENT_CODES)
    if code == WINDOW_CLOSED_CODE:
        return WindowClosedError(
            text + ". The 24-hour customer-service window is closed: send a template.",
            channel=_CHANNEL,
            code=code,
        )
    return SendError(
        text, channel=_CHANNEL, code=code if code is not None else http_status, retryable=retryable
    )


# -- the /messages request body ------------------------------------------------------


def recipient_fields(message: Outgoing) -> dict[str, str]:
    """``to`` for a phone number, ``recipient`` for a business-scoped user id."""
    address = message.to
    if address.kind == AddressKind.PHONE:
        return {"to": address.value.lstrip("+")}
    if address.kind == AddressKind.WHATSAPP:
        return {"recipient": address.value}
    raise SendError(
        f"WhatsApp cannot send to a {address.kind} address ({address}); "
        "give a phone number or a WhatsApp user id",
        channel=_CHANNEL,
    )


def check_window(message: Outgoing, now: dt.datetime) -> None:
    """Raise `WindowClosedError` unless the customer wrote within the last 24 hours."""
    last = message.last_inbound_at
    if last is not None and now - last < WINDOW:
        return
    when = "never wrote on this number" if last is None else f"last wrote at {last.isoformat()}"
    raise WindowClosedError(
        f"cannot send a free-form WhatsApp message to {message.to}: the customer {when}, "
        "outside the 24-hour customer-service window. A template is needed: "
        "send with options={'template': {'name': ..., 'language': ...}}.",
        channel=_CHANNEL,
        code=WINDOW_CLOSED_CODE,
    )


def message_payload(
    message: Outgoing, *, now: dt.datetime, media_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """The ``/messages`` body for ``message`` and its message type.

    ``media_id`` is the id of media uploaded beforehand (``options["media"]``
    with ``data``).
    """
    options = message.options
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body.update(recipient_fields(message))
    template = options.get("template")
    if template is not None:
        kind = "template"
        body["template"] = template_object(template, options)
    else:
        check_window(message, now)
        media = options.get("media")
        interactive = options.get("interactive")
        if media is not None:
            kind, media_item = media_object(media, message.text, media_id)
            body[kind] = media_item
        elif interactive is not None:
            if not isinstance(interactive, Mapping):
                raise ConfigurationError("options['interactive'] must be a mapping")
            kind = "interactive"
            body["interactive"] = dict(interactive)
        elif message.text:
            kind = "text"
            body["text"] = {"body": message.text, "preview_url": bool(options.get("preview_url"))}
        else:
            raise ConfigurationError(
                "a WhatsApp message needs text, or options with a template, media or interactive"
            )
    body["type"] = kind
    reply = message.reply_to
    if reply is not None and not reply.external_id.startswith("omnicx:"):
        body["context"] = {"message_id": reply.external_id}
    tracker = options.get("tracker", message.client_id)
    if tracker:
        body["biz_opaque_callback_data"] = str(tracker)[:512]
    return body, kind


def template_object(template: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"name", "language": {"code"}, "components"}`` from a name or a mapping."""
    if isinstance(template, str):
        spec: dict[str, Any] = {"name": template}
        for key in ("language", "components"):
            if key in options:
                spec[key] = options[key]
    elif isinstance(template, Mapping):
        spec = dict(template)
    else:
        raise ConfigurationError("options['template'] must be a name or a mapping")
    if not spec.get("name"):
        raise ConfigurationError("a WhatsApp template needs a name")
    language = spec.get("language")
    if isinstance(language, str) and language:
        spec["language"] = {"code": language}
    elif not (isinstance(language, Mapping) and language.get("code")):
        raise ConfigurationError(
            f"template {spec['name']!r} needs a language, e.g. language='en_US'"
        )
    components = spec.get("components")
    if components is not None and not isinstance(components, list | tuple):
        raise ConfigurationError("template components must be a list")
    if components is not None:
        spec["components"] = list(components)
    return spec


def media_object(
    media: Any, text: str | None, media_id: str | None
) -> tuple[str, dict[str, Any]]:
    """The media type and its object: by uploaded ``id`` or by ``link``."""
    if not isinstance(media, Mapping):
        raise ConfigurationError("options['media'] must be a mapping")
    kind = media.get("type")
    if kind not in MEDIA_TYPES:
        raise ConfigurationError(
            f"media type must be one of {sorted(MEDIA_TYPES)}, not {kind!r}"
        )
    item: dict[str, Any] = {}
    ref = media_id or media.get("id")
    if ref:
        item["id"] = str(ref)
    elif media.get("link"):
        item["link"] = str(media["link"])
    else:
        raise ConfigurationError("media needs a link, an uploaded id, or data to upload")
    caption = media.get("caption", text)
    if caption and kind in MEDIA_CAPTION_TYPES:
        item["caption"] = str(caption)
    if kind == "document" and media.get("filename"):
        item["filename"] = str(media["filename"])
    return str(kind), item
