"""The Telegram Bot API over httpx: one call with retries and typed errors.

Every Bot API method answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": n, "description": "...", "parameters":
{"retry_after": s, "migrate_to_chat_id": id}}``. `BotAPI.call` returns the
``result`` or raises `SendError` with ``code`` = ``error_code``:

- 429 (flood control) is retried after ``parameters.retry_after`` seconds
  (refused as retryable when that is longer than ``max_wait``);
- 5xx and connection failures are retried with exponential backoff; a call
  that timed out after it was sent is retried only when ``idempotent``
  (``sendMessage`` has no idempotency key: a customer receiving a message
  twice is worse than a retryable error the caller can look into);
- everything else is permanent: 403 ``Forbidden: bot was blocked by the
  user``, 400 ``Bad Request: chat not found``, 401 (a bad token), 409 (a
  webhook is set, so ``getUpdates`` is refused).

The bot token is part of every URL; it is replaced by ``<token>`` in every
error text, so it never reaches a log or the history's event table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..._errors import ConfigurationError, SendError

__all__ = ["BotAPI"]

_CHANNEL = "telegram"


class BotAPI:
    """A small Bot API client: one `httpx.Client`, retries, typed errors, a redacted token."""

    def __init__(
        self,
        *,
        token: str | None,
        base_url: str,
        transport: httpx.BaseTransport | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_wait: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.token = token
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.client = httpx.Client(base_url=base_url.rstrip("/"), transport=transport,
                                   timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def redact(self, text: str) -> str:
        return text.replace(self.token, "<token>") if self.token else text

    def call(
        self,
        method: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotent: bool,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method``; return its ``result`` or raise `SendError`."""
        if not self.token:
            raise ConfigurationError("Telegram needs bot_token to call the Bot API")
        url = f"/bot{self.token}/{method}"
        limit = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        attempt = 0
        while True:
            try:
                response = self.client.post(url, json=json_body, data=data, files=files,
                                            timeout=limit)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure = SendError(f"cannot reach the Bot API: {self.redact(str(exc))}",
                                    channel=_CHANNEL, retryable=True)
                wait = self._backoff(attempt)
            except httpx.HTTPError as exc:
                failure = SendError(
                    f"Bot API {method} failed: {type(exc).__name__}: {self.redact(str(exc))}",
                    channel=_CHANNEL, retryable=True)
                if not idempotent:
                    raise failure from None  # the cause's text holds the token
                wait = self._backoff(attempt)
            else:
                document = _json(response)
                if response.is_success and document.get("ok") is True:
                    return document.get("result")
                failure, retry_after = self._error(method, response.status_code, document)
                if not failure.retryable:
                    raise failure
                wait = retry_after if retry_after is not None else self._backoff(attempt)
            attempt += 1
            if attempt > self.max_retries or wait > self.max_wait:
                raise failure
            self.sleep(wait)

    def download(self, file_path: str, *, max_bytes: int) -> bytes:
        """The bytes of ``file_path`` (from ``getFile``), retried like an idempotent call."""
        if not self.token:
            raise ConfigurationError("Telegram needs bot_token to download files")
        attempt = 0
        while True:
            try:
                response = self.client.get(f"/file/bot{self.token}/{file_path.lstrip('/')}")
            except httpx.HTTPError as exc:
                failure = SendError(
                    f"cannot download a Telegram file: {type(exc).__name__}:"
                    f" {self.redact(str(exc))}", channel=_CHANNEL, retryable=True)
            else:
                if response.is_success:
                    if len(response.content) > max_bytes:
                        raise SendError(f"the file is over {max_bytes} bytes", channel=_CHANNEL)
                    return response.content
                failure = SendError(
                    f"cannot download a Telegram file: HTTP {response.status_code}",
                    channel=_CHANNEL, code=response.status_code,
                    retryable=response.status_code >= 500 or response.status_code == 429)
                if not failure.retryable:
                    raise failure
            wait = self._backoff(attempt)
            attempt += 1
            if attempt > self.max_retries or wait > self.max_wait:
                raise failure
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait, self.backoff * (2**attempt)))

    def _error(self, method: str, status: int, document: Mapping[str, Any]
               ) -> tuple[SendError, float | None]:
        code = document.get("error_code")
        if not isinstance(code, int) or isinstance(code, bool):
            code = status
        description = document.get("description")
        text = f"Telegram {method} failed: " + self.redact(
            description if isinstance(description, str) and description else f"HTTP {status}")
        parameters = document.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        retry_after = parameters.get("retry_after")
        wait = (float(retry_after) if isinstance(retry_after, int | float)
                and not isinstance(retry_after, bool) and retry_after >= 0 else None)
        migrated = parameters.get("migrate_to_chat_id")
        if migrated is not None:
            text += f" (the group is now the supergroup {migrated})"
        if code == 409:
            text += " (a webhook is set: delete it, or receive through it instead of polling)"
        retryable = code == 429 or code >= 500
        return SendError(text, channel=_CHANNEL, code=code, retryable=retryable), wait


def _json(response: httpx.Response) -> Mapping[str, Any]:
    try:
        document = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}
