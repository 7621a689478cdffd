"""Outbound SMS and MMS through Twilio's Messages API, over httpx (no SDK).

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields
``To``, ``From`` (or ``MessagingServiceSid``), ``Body``, ``MediaUrl`` and
``StatusCallback``, authenticated with HTTP Basic (account SID, auth token).
Twilio answers ``201`` with the Message resource (``sid``, ``status``
``queued`` or ``accepted``...) or an error object ``{"code", "message",
"more_info", "status"}``, mapped to `SendError` through
`omnicx.channels.twilio.TWILIO_ERRORS`.

Retries: a request Twilio refused for its rate (HTTP 429, code 20429) or
that never reached it (connection failures) is retried with exponential
backoff, honouring ``Retry-After``. A 5xx or a timeout after the request was
sent is *not* retried: the Messages API has no idempotency key, and the
message may have been created; the caller gets `SendError(retryable=True)`.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..._errors import ConfigurationError, PayloadError, SendError, WindowClosedError
from ._errors import describe, is_retryable

__all__ = ["MessagesAPI", "error_from_response"]

_CHANNEL = "sms"
WINDOW_CLOSED_CODE = 63016  # WhatsApp: a free-form message outside the 24-hour window
_NUMBERS = re.compile(r"\+?\d[\d ()./-]{4,}\d")


class MessagesAPI:
    """A small client of Twilio's REST API: one `httpx.Client`, retries, typed errors."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str | None,
        base_url: str,
        transport: httpx.BaseTransport | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/",
            transport=transport, timeout=timeout,
            auth=(account_sid, auth_token) if auth_token else None)

    def close(self) -> None:
        self.client.close()

    def fetch(self, url: str, *, max_bytes: int) -> tuple[bytes, str | None]:
        """GET a Twilio-hosted file (media, a recording); return its bytes and content type.

        Twilio answers media URLs with a redirect to its storage; httpx
        follows it and drops the credentials on the way to the other host.
        """
        if not url.startswith("https://"):
            raise SendError(f"refusing to fetch a non-https URL: {url!r}", channel=_CHANNEL)
        try:
            with self.client.stream("GET", url, follow_redirects=True) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PayloadError(f"{url} is {declared} bytes, over max_media_bytes="
                                       f"{max_bytes}", channel=_CHANNEL)
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadError(f"{url} is over max_media_bytes={max_bytes}",
                                           channel=_CHANNEL)
                    chunks.append(chunk)
                content_type = response.headers.get("Content-Type")
        except httpx.HTTPError as exc:
            raise SendError(f"cannot fetch {url}: {type(exc).__name__}: {exc}",
                            channel=_CHANNEL, retryable=True) from exc
        return b"".join(chunks), content_type.split(";", 1)[0].strip() if content_type else None

    def create_message(self, fields: Mapping[str, str | list[str]]) -> dict[str, Any]:
        """Create a Message resource; return Twilio's JSON for it."""
        if not self.auth_token:
            raise ConfigurationError("Twilio needs auth_token to call the Messages API")
        attempt = 0
        while True:
            try:
                response = self.client.post("Messages.json", data=dict(fields))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure = SendError(f"cannot reach Twilio: {exc}", channel=_CHANNEL,
                                    retryable=True)
                retry_after = None
            except httpx.HTTPError as exc:  # sent, maybe created: never send twice
                raise SendError(f"Twilio request failed: {type(exc).__name__}: {exc}",
                                channel=_CHANNEL, retryable=True) from exc
            else:
                if response.is_success:
                    return _json_object(response)
                failure = error_from_response(response)
                throttled = response.status_code == 429 or failure.code == 20429
                if not throttled:
                    raise failure
                retry_after = _retry_after(response)
            wait = retry_after if retry_after is not None else self.backoff * 2 ** attempt
            attempt += 1
            if attempt > self.max_retries or wait > self.max_wait:
                raise failure
            self.sleep(wait)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as exc:
        raise SendError(f"Twilio answered {response.status_code} without JSON",
                        channel=_CHANNEL) from exc
    if not isinstance(document, dict):
        raise SendError(f"Twilio answered {response.status_code} with a JSON "
                        f"{type(document).__name__}", channel=_CHANNEL)
    return document


def error_from_response(response: httpx.Response) -> SendError:
    """`SendError` for a Twilio error answer: its code, message and whether to retry."""
    try:
        document = response.json()
    except ValueError:
        document = None
    code: int | None = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(document, dict):
        raw_code = document.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        elif isinstance(raw_code, str) and raw_code.isdigit():
            code = int(raw_code)
        if isinstance(document.get("message"), str):
            message = document["message"]
    info = describe(code) if code is not None else None
    # Twilio's own text often quotes the recipient's number ("The 'To' number
    # +41... is not valid"); the error is stored in the clear beside the
    # (encrypted) content, so it says the documented title, or the text with
    # every number masked.
    text = info.title if info is not None else _NUMBERS.sub("<number>", message)
    error = WindowClosedError if code == WINDOW_CLOSED_CODE else SendError
    return error(
        f"Twilio refused the message: HTTP {response.status_code}"
        f"{f' code {code}' if code is not None else ''}: {text}",
        channel=_CHANNEL, code=code,
        retryable=is_retryable(code, response.status_code))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
