"""A plain ASGI webhook receiver: ``omnicx serve`` runs it under uvicorn.

Routes, for each configured channel:

- ``POST /<channel>/<account>``: `History.receive`; answers only after the
  commit. 200 with the receipt as JSON; 401 for a bad signature (nothing
  stored); 200 with ``{"quarantined": id}`` for a payload that could not be
  parsed (it is kept, so the provider need not retry); 503 when storage
  failed (nothing committed, so the provider's retry fills it in).
- ``GET /<channel>/<account>``: the subscription handshake, for channels
  that have one (``handshake(query) -> (status, body)``, e.g. WhatsApp).

It has no framework dependency; mount `webhook_app` in any ASGI server or
framework (Starlette's ``Mount``, FastAPI's ``app.mount``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ._adapters import adapter_channel
from ._errors import PayloadError, SignatureError, StorageError
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


def webhook_app(history: History, channels: Iterable[ChannelAdapter]) -> ASGIApp:
    """An ASGI application receiving webhooks for ``channels`` into ``history``."""
    routes = {f"/{adapter_channel(c).value}/{c.account}": c for c in channels}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        channel = routes.get(scope["path"].rstrip("/"))
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
        body = await _read_body(receive)
        if body is None:
            await _respond(send, 413, {"error": "body too large"})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status, answer = await asyncio.to_thread(_receive, history, channel, body, headers)
        await _respond(send, status, answer)

    return app


def _receive(history: History, channel: ChannelAdapter, body: bytes,
             headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    try:
        receipt = history.receive(channel, body=body, headers=headers)
    except SignatureError as exc:
        log.warning("rejected %s webhook: %s", channel.channel, exc)
        return 401, {"error": str(exc)}
    except PayloadError as exc:
        log.warning("quarantined %s payload: %s", channel.channel, exc)
        return 200, {"quarantined": exc.quarantine_id, "error": exc.message}
    except StorageError as exc:
        log.exception("storage failed; the provider will retry")
        return 503, {"error": str(exc)}
    return 200, {"stored": receipt.stored, "duplicates": receipt.duplicates,
                 "updates": receipt.updates}


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
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
