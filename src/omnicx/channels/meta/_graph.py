"""What Meta's platforms share: webhook signature, handshake and the Graph API client.

WhatsApp, Messenger and Instagram webhooks are signed the same way
(``X-Hub-Signature-256``: HMAC-SHA256 of the raw body under the app secret),
subscribed the same way (a GET with ``hub.mode``, ``hub.verify_token`` and
``hub.challenge``) and answered by the same Graph API, whose errors have one
shape (``{"error": {"message", "type", "code", "error_subcode", ...}}``).
Each is written once here; the channels differ only in which error codes
mean what (`GraphAPI` takes the channel's own ``classify`` function).

`GraphAPI` makes one request with retries: throttling codes and HTTP 429
back off longer and honour ``Retry-After`` and Meta's
``X-Business-Use-Case-Usage`` estimate; transient codes and HTTP 5xx back off
exponentially; everything else raises `SendError` with the provider's code
at once. httpx errors never escape: they become `SendError` ``from`` the
original. A request that timed out after it was sent is retried only when
``idempotent``: the send endpoints have no idempotency key, and a customer
receiving a message twice is worse than a `SendError(retryable=True)`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import httpx

from ..._errors import ConfigurationError, SendError
from .._common import get_header, hmac_sha256_hex, verify_hmac_sha256

__all__ = [
    "SIGNATURE_HEADER",
    "GraphAPI",
    "Handshake",
    "answer_handshake",
    "app_key",
    "error_object",
    "graph_error",
    "sign_body",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"


class Handshake(NamedTuple):
    """The answer to Meta's GET verification request: an HTTP status and a text body."""

    status: int
    body: str


def app_key(app_secret: str | bytes | None, channel: str) -> bytes:
    """The app secret as bytes; `ConfigurationError` when there is none."""
    if not app_secret:
        raise ConfigurationError(f"{channel} needs app_secret to verify webhook signatures")
    return app_secret.encode() if isinstance(app_secret, str) else app_secret


def sign_body(key: bytes, body: bytes) -> dict[str, str]:
    """Headers that authenticate ``body`` as Meta would send them (tests, examples)."""
    return {SIGNATURE_HEADER: "sha256=" + hmac_sha256_hex(key, body)}


def verify_signature(key: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise `SignatureError` unless ``X-Hub-Signature-256`` signs ``body`` (constant-time)."""
    verify_hmac_sha256(key, body, get_header(headers, SIGNATURE_HEADER), what=SIGNATURE_HEADER)


def answer_handshake(verify_token: str | None, params: Mapping[str, Any]) -> Handshake:
    """Answer ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``.

    ``(200, challenge)`` when the token matches (compared in constant time),
    ``(403, reason)`` otherwise. List values (``parse_qs``) are accepted.
    """
    mode = _first(params.get("hub.mode"))
    token = _first(params.get("hub.verify_token"))
    challenge = _first(params.get("hub.challenge"))
    if not verify_token:
        return Handshake(403, "verify_token is not configured")
    if mode != "subscribe" or token is None or challenge is None:
        return Handshake(403, "not a subscription request")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return Handshake(403, "verify token does not match")
    return Handshake(200, challenge)


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


Classify = Callable[[Mapping[str, Any], int], SendError]
"""A channel's map from a Graph ``error`` object and the HTTP status to its typed error."""


def graph_error(
    error: Mapping[str, Any],
    http_status: int,
    *,
    channel: str,
    label: str,
    retryable_codes: frozenset[int],
    permanent_codes: frozenset[int],
) -> tuple[str, int | None, bool]:
    """The message, code and retryability of a Graph ``error`` object.

    Retryable: a code in ``retryable_codes``, HTTP 429, or HTTP 5xx with a
    code not in ``permanent_codes``. Channels build their `SendError` (or a
    subclass such as `WindowClosedError`) from the result.
    """
    code = error.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    subcode = error.get("error_subcode")
    message = error.get("message") or f"HTTP {http_status}"
    details = error.get("error_data", {})
    detail = details.get("details") if isinstance(details, dict) else None
    text = f"{label} send failed: {message}"
    if code is not None:
        text += f" (code {code}{f', subcode {subcode}' if subcode else ''})"
    if detail:
        text += f": {detail}"
    retryable = (
        code in retryable_codes
        or http_status == 429
        or (http_status >= 500 and code not in permanent_codes)
    )
    return text, code, retryable


class GraphAPI:
    """A small Graph API client: one `httpx.Client`, retries, typed errors."""

    def __init__(
        self,
        *,
        channel: str,
        classify: Classify,
        throttling_codes: frozenset[int],
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
        self.channel = channel
        self.classify = classify
        self.throttling_codes = throttling_codes
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
            raise ConfigurationError(
                f"{self.channel} needs an access_token to call the Graph API")
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    method, url, json=json_body, data=data, files=files
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached Meta: always safe to retry.
                failure: SendError = SendError(
                    f"cannot reach the Graph API: {exc}", channel=self.channel, retryable=True
                )
                cause: BaseException = exc
                wait = self._delay(attempt, throttled=False, retry_after=None)
            except httpx.HTTPError as exc:
                failure = SendError(
                    f"Graph API request failed: {type(exc).__name__}: {exc}",
                    channel=self.channel,
                    retryable=True,
                )
                if not idempotent:
                    raise failure from exc
                cause = exc
                wait = self._delay(attempt, throttled=False, retry_after=None)
            else:
                if response.is_success:
                    return response
                failure = self.classify(error_object(response), response.status_code)
                if not failure.retryable:
                    raise failure
                throttled = (response.status_code == 429
                             or failure.code in self.throttling_codes)
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
                f"Graph API answered {response.status_code} without JSON", channel=self.channel
            ) from exc
        if not isinstance(document, dict):
            raise SendError("Graph API answered with a non-object JSON body",
                            channel=self.channel)
        return document


def error_object(response: httpx.Response) -> Mapping[str, Any]:
    """The ``error`` object of a non-2xx Graph API response (empty if it has none)."""
    try:
        document = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        return dict(document["error"])
    return {}


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
