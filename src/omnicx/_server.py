"""A plain ASGI webhook receiver: ``omnicx serve`` runs it under uvicorn.

Routes, for each configured channel:

- ``POST /<channel>/<account>``: verified on arrival (401 at once for a bad
  signature, nothing stored), then stored by group commit
  (``omnicx._committer``): the answer comes only after the commit. 200 with
  the receipt as JSON; 200 with ``{"quarantined": id}`` for a payload that
  could not be parsed (it is kept, so the provider need not retry); 503
  when storage failed (nothing committed, the provider's retry fills it
  in). A request whose body did not arrive complete (the client went away
  mid-body, or fewer bytes than its ``Content-Length``) is never stored.
- ``GET /<channel>/<account>``: the subscription handshake, for channels
  that have one (``handshake(query) -> (status, body)``, e.g. WhatsApp).
- ``GET /healthz``: 200 while the process serves (liveness);
  ``GET /readyz``: 200 when the store answers a read and the writer runs,
  503 otherwise (readiness).
- ``mount={"/api": app}``: any other ASGI app under a path prefix (a read
  API, a metrics endpoint); it sees the full ``path`` and the prefix added to
  ``root_path``, as Starlette's ``Mount`` does.

Every channel must authenticate its requests: at construction,
`webhook_app` raises `ConfigurationError` for an empty secret and for a
channel that accepts unsigned requests (email), unless that channel is
wrapped in `omnicx.channels.Authenticated`.

One INFO line per request on the ``omnicx.server`` logger: method, path
(without the query string, which may carry a verify token), status and
milliseconds; never payload content.

It has no framework dependency; mount `webhook_app` in any ASGI server or
framework (Starlette's ``Mount``, FastAPI's ``app.mount``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import attrs

from ._adapters import adapter_channel
from ._answer import WebhookAnswer
from ._committer import GroupWriter
from ._errors import (
    ConfigurationError,
    OmnicxError,
    PayloadError,
    SignatureError,
    StorageError,
)
from ._group import Outcome, prepare
from ._history import History
from .typing import ChannelAdapter

__all__ = ["webhook_app"]

log = logging.getLogger("omnicx.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_BODY = 32 * 1024 * 1024
# Bodies up to this size are verified and parsed on the event loop (tens of
# microseconds); larger ones (a mail with attachments) in a worker thread, so
# that one big message does not stall every other request's arrival.
_PARSE_INLINE = 64 * 1024


class _Incomplete(Exception):
    """The request body did not arrive whole; ``status`` is the answer, if any."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def webhook_app(
    history: History,
    channels: Iterable[ChannelAdapter],
    *,
    mount: Mapping[str, ASGIApp] | None = None,
    max_group: int = 256,
    max_group_bytes: int = 8 * 1024 * 1024,
) -> ASGIApp:
    """An ASGI application receiving webhooks for ``channels`` into ``history``.

    ``mount`` maps path prefixes (``"/api"``) to other ASGI apps served by
    the same process. ``max_group`` and ``max_group_bytes`` cap one group
    commit. Raises `ConfigurationError` for a channel that cannot
    authenticate its requests (see the module docstring).
    """
    routes: dict[str, ChannelAdapter] = {}
    for channel in channels:
        check_servable(channel)
        routes[f"/{adapter_channel(channel).value}/{channel.account}"] = channel
    mounts = {_prefix(prefix): app for prefix, app in (mount or {}).items()}
    writer = GroupWriter(history, max_items=max_group, max_bytes=max_group_bytes)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        for prefix, mounted in mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                child = dict(scope)
                child["root_path"] = scope.get("root_path", "") + prefix
                await mounted(child, receive, send)
                return
        if path in ("/healthz", "/readyz"):
            if scope["method"] not in ("GET", "HEAD"):
                await _respond(send, 405, {"error": "use GET"})
            elif path == "/healthz":
                await _respond(send, 200, {"status": "ok"})
            else:
                ready, detail = await asyncio.to_thread(_ready, history)
                ready = ready and writer.alive
                await _respond(send, 200 if ready else 503,
                               {"status": "ready" if ready else "unavailable", **detail})
            return
        channel = routes.get(path.rstrip("/"))
        if channel is None:
            await _respond(send, 404, {"error": "no channel at this path"})
            return
        if scope["method"] == "GET":
            handshake = getattr(channel, "handshake", None)
            if handshake is None:
                await _respond(send, 405, {"error": "this channel has no handshake"})
                return
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            status, text = handshake(query)
            await _respond_text(send, status, text)
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "use POST"})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_body(receive, headers)
        except _Incomplete as exc:
            log.warning("%s %s: %s; nothing stored", scope["method"], path, exc.reason)
            if exc.status is not None:
                await _respond(send, exc.status, {"error": exc.reason})
            return
        try:
            if len(body) <= _PARSE_INLINE:
                prepared = prepare(history, channel, body, headers)
            else:
                prepared = await asyncio.to_thread(prepare, history, channel, body, headers)
        except SignatureError as exc:
            log.warning("rejected %s webhook: %s", adapter_channel(channel).value, exc)
            await _respond(send, 401, {"error": str(exc)})
            return
        except OmnicxError as exc:  # the adapter cannot verify (a configuration fault)
            log.exception("cannot verify a %s webhook", adapter_channel(channel).value)
            await _respond(send, 500, {"error": str(exc)})
            return
        outcome = await writer.submit(prepared)
        status, answer = _answer(channel, outcome)
        await _respond(send, status, answer)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, writer)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        sent: list[int] = []

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])
            await send(message)

        try:
            await dispatch(scope, receive, send_logged)
        finally:
            log.info("%s %s %s %.1fms", scope["method"], scope["path"],
                     sent[0] if sent else "-", (time.perf_counter() - started) * 1000)

    return app


def check_servable(channel: ChannelAdapter) -> None:
    """Raise `ConfigurationError` unless ``channel`` authenticates every request.

    Two checks, for any adapter (omnicx's, a user's own): no secret or
    token field of an attrs adapter is empty, and an unsigned request is
    refused by its ``verify``. A channel whose requests carry no signature
    (email) is served only wrapped in `omnicx.channels.Authenticated`; the
    adapter inside a wrapper must still be able to run its own ``verify``
    (a WhatsApp number without ``app_secret`` cannot).
    """
    name = f"{adapter_channel(channel).value}/{channel.account}"
    _check_secrets(name, channel)
    for body in (b"", b"{}"):
        if _accepts_unsigned(name, channel, body):
            raise ConfigurationError(
                f"{name} accepts unsigned requests, so anyone could write into the history"
                " over HTTP; wrap it in omnicx.channels.Authenticated(adapter, bearer_token=..."
                " or hmac_secret=...) (in a channel config: bearer_token = ... or"
                " hmac_secret = ...)")
    inner = getattr(channel, "adapter", None)
    if isinstance(inner, ChannelAdapter):  # a wrapper: its adapter's config counts too
        _check_secrets(name, inner)
        _accepts_unsigned(name, inner, b"")


def _check_secrets(name: str, channel: ChannelAdapter) -> None:
    kind: Any = type(channel)
    if not attrs.has(kind):
        return
    for field in attrs.fields(kind):
        value = getattr(channel, field.name, None)
        secret_like = "secret" in field.name or field.name.endswith("_token")
        if secret_like and isinstance(value, (str, bytes)) and not value.strip():
            raise ConfigurationError(f"{name}: {field.name} is empty")


def _accepts_unsigned(name: str, channel: ChannelAdapter, body: bytes) -> bool:
    """Whether ``channel.verify`` lets an unsigned request with ``body`` through."""
    try:
        channel.verify(body, {})
    except SignatureError:
        return False
    except ConfigurationError as exc:
        raise ConfigurationError(f"{name} cannot authenticate requests: {exc}") from exc
    except Exception as exc:
        raise ConfigurationError(
            f"{name}: verify() failed on an unsigned request: {exc!r}") from exc
    return True


def _answer(channel: ChannelAdapter, outcome: Outcome) -> tuple[int, dict[str, Any]]:
    answer = WebhookAnswer.of(outcome)  # the same mapping as omnicx.answer_webhook
    if isinstance(outcome, PayloadError):
        log.warning("quarantined %s payload as #%s", adapter_channel(channel).value,
                    outcome.quarantine_id)
    elif isinstance(outcome, StorageError):
        log.error("storage failed; the provider will retry: %s", outcome)
    elif answer.status >= 500:
        log.error("receiving a %s payload failed: %s", adapter_channel(channel).value, outcome)
    return answer.status, dict(answer.body)


def _ready(history: History) -> tuple[bool, dict[str, Any]]:
    try:
        with history.store.reading(snapshot=False) as tx:
            tx.cursor("omnicx.readyz")
    except OmnicxError as exc:
        return False, {"error": f"store: {exc}"}
    return True, {}


async def _lifespan(receive: Receive, send: Send, writer: GroupWriter) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            writer.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await writer.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _prefix(prefix: str) -> str:
    cleaned = "/" + prefix.strip("/")
    if cleaned == "/":
        raise ConfigurationError("a mount prefix must not be '/'; it would hide the webhooks")
    return cleaned


async def _read_body(receive: Receive, headers: Mapping[str, str]) -> bytes:
    """The whole body, or `_Incomplete`: a cut-off body must never be stored.

    A client that disconnects mid-body (``http.disconnect``) gets no answer;
    a body that ends short of (or beyond) its ``Content-Length`` gets 400.
    """
    declared: int | None = None
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise _Incomplete(400, "Content-Length is not a number") from None
        if declared > _MAX_BODY:
            raise _Incomplete(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Incomplete(None, f"client disconnected after {size} body bytes")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise _Incomplete(413, "body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    if declared is not None and size != declared:
        raise _Incomplete(400, f"body has {size} bytes, Content-Length says {declared}")
    return b"".join(chunks)


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _respond_text(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
