"""The outbound half of the WhatsApp channel: the Graph API over httpx.

- `GraphAPI` makes one request with retries: throttling codes (and HTTP 429)
  back off longer and honour ``Retry-After`` and Meta's
  ``X-Business-Use-Case-Usage`` estimate; transient codes and HTTP 5xx back
  off exponentially; everything else raises `SendError` with the provider's
  code at once. httpx errors never escape: they become `SendError` ``from``
  the original.
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
import email.utils
import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..._enums import AddressKind
from ..._errors import ConfigurationError, SendError, WindowClosedError
from ..._outbound import Outgoing

__all__ = [
    "RETRYABLE_CODES",
    "THROTTLING_CODES",
    "WINDOW",
    "GraphAPI",
    "message_payload",
    "error_from_object",
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


class GraphAPI:
    """A small Graph API client: one `httpx.Client`, retries, typed errors."""

    def __init__(
        self,
        *,
        access_token: str | None,
        api_version: str,
        base_url: str,
        transport: httpx.BaseTransport | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        throttle_backoff: float,
        max_wait: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.access_token = access_token
        self.api_version = api_version.strip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.throttle_backoff = throttle_backoff
        self.max_wait = max_wait
        self.sleep = sleep
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self.client = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/{self.api_version}/",
            transport=transport,
            timeout=timeout,
            headers=headers,
        )

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> httpx.Response:
        """Send one request, retrying what may succeed later; return a 2xx response."""
        if not self.access_token:
            raise ConfigurationError("WhatsApp needs an access_token to call the Graph API")
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    method, url, json=json_body, data=data, files=files
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached Meta: always safe to retry.
                failure: SendError = SendError(
                    f"cannot reach the Graph API: {exc}", channel=_CHANNEL, retryable=True
                )
                cause: BaseException = exc
                wait = self._delay(attempt, throttled=False, retry_after=None)
            except httpx.HTTPError as exc:
                failure = SendError(
                    f"Graph API request failed: {type(exc).__name__}: {exc}",
                    channel=_CHANNEL,
                    retryable=True,
                )
                if not idempotent:
                    raise failure from exc
                cause = exc
                wait = self._delay(attempt, throttled=False, retry_after=None)
            else:
                if response.is_success:
                    return response
                failure = error_from_response(response)
                if not failure.retryable:
                    raise failure
                throttled = response.status_code == 429 or failure.code in THROTTLING_CODES
                wait = self._delay(attempt, throttled=throttled, retry_after=_retry_after(response))
                cause = failure
            attempt += 1
            if attempt > self.max_retries or wait > self.max_wait:
                if cause is failure:
                    raise failure
                raise failure from cause
            self.sleep(wait)

    def _delay(self, attempt: int, *, throttled: bool, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        base = self.throttle_backoff if throttled else self.backoff
        return float(min(self.max_wait, base * (2**attempt)))

    def json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            document = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise SendError(
                f"Graph API answered {response.status_code} without JSON", channel=_CHANNEL
            ) from exc
        if not isinstance(document, dict):
            raise SendError("Graph API answered with a non-object JSON body", channel=_CHANNEL)
        return document


def error_from_response(response: httpx.Response) -> SendError:
    """The typed error for a non-2xx Graph API response."""
    error: Mapping[str, Any] = {}
    try:
        document = response.json()
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
    return error_from_object(error, http_status=response.status_code)


def error_from_object(error: Mapping[str, Any], *, http_status: int) -> SendError:
    """The `SendError` for a Graph API ``error`` object (returned, not raised)."""
    code = error.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    subcode = error.get("error_subcode")
    message = error.get("message") or f"HTTP {http_status}"
    details = error.get("error_data", {})
    detail = details.get("details") if isinstance(details, dict) else None
    text = f"WhatsApp send failed: {message}"
    if code is not None:
        text += f" (code {code}{f', subcode {subcode}' if subcode else ''})"
    if detail:
        text += f": {detail}"
    if code == WINDOW_CLOSED_CODE:
        return WindowClosedError(
            text + ". The 24-hour customer-service window is closed: send a template.",
            channel=_CHANNEL,
            code=code,
        )
    retryable = (
        code in RETRYABLE_CODES
        or http_status == 429
        or (http_status >= 500 and code not in PERMANENT_CODES)
    )
    return SendError(
        text, channel=_CHANNEL, code=code if code is not None else http_status, retryable=retryable
    )


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from ``Retry-After`` or Meta's business use case usage header."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            when = email.utils.parsedate_to_datetime(header) if header else None
            if when is not None:
                return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    usage = response.headers.get("x-business-use-case-usage")
    if usage:
        try:
            document = json.loads(usage)
        except ValueError:
            return None
        minutes = [
            item.get("estimated_time_to_regain_access")
            for items in (document.values() if isinstance(document, dict) else ())
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict)
        ]
        waits = [m for m in minutes if isinstance(m, (int, float)) and m > 0]
        if waits:
            return float(max(waits)) * 60.0
    return None


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
