"""The ASGI webhook receiver, over real HTTP semantics through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

import omnicx
from omnicx.channels import WhatsApp
from webchat_payloads import CHANNEL, message, signed


def exchange(app: Any, *requests: tuple[str, str, bytes, dict[str, str]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnicx") as client:
            return [await client.request(method, path, content=body, headers=headers)
                    for method, path, body, headers in requests]

    return asyncio.run(go())


def test_webhooks_answer_after_commit_and_never_lose_a_payload() -> None:
    history = omnicx.open(":memory:")
    wa = WhatsApp(phone_number_id="1065", app_secret="a", verify_token="tok")
    app = omnicx.webhook_app(history, [CHANNEL, wa])
    body, headers = signed(message("m1", 0))
    ok, again, forged, broken, missing, wrong_method, handshake, bad_token = exchange(
        app,
        ("POST", "/webchat/shop", body, headers),
        ("POST", "/webchat/shop", body, headers),
        ("POST", "/webchat/shop", body, {"X-Omnicx-Signature": "sha256=00"}),
        ("POST", "/webchat/shop", b"{oops", CHANNEL.sign(b"{oops")),
        ("POST", "/telegram/bot", body, headers),
        ("PUT", "/webchat/shop", body, headers),
        ("GET", "/whatsapp/1065?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=42",
         b"", {}),
        ("GET", "/whatsapp/1065?hub.mode=subscribe&hub.verify_token=no&hub.challenge=42",
         b"", {}),
    )
    assert (ok.status_code, ok.json()) == (200, {"stored": 1, "duplicates": 0, "updates": 0})
    assert again.json()["duplicates"] == 1
    assert forged.status_code == 401
    assert broken.status_code == 200 and broken.json()["quarantined"] is not None
    assert [q.body for q in history.quarantine()] == [b"{oops"]
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
    assert (handshake.status_code, handshake.text) == (200, "42")
    assert bad_token.status_code == 403
