"""A webhook receiver: omnicx's ASGI app, exercised in-process or served by uvicorn.

Run: python examples/webhook_server.py          # posts a signed request in-process
     python examples/webhook_server.py --serve  # listens on 127.0.0.1:8000 (omnicx[server])
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx

import omnicx
from omnicx.channels import WebChat

chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
history = omnicx.open(":memory:")
app = omnicx.webhook_app(history, [chat])  # POST /webchat/shop.example.ch


async def post_one() -> None:
    body = json.dumps({"events": [
        {"type": "message", "id": "m-1", "from": "visitor", "at": "2026-11-03T08:00:10Z",
         "visitor": {"id": "v-1", "email": "mia@example.org"}, "text": "Hello!"}]}).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://omnicx") as client:
        ok = await client.post("/webchat/shop.example.ch", content=body,
                               headers=chat.sign(body))
        forged = await client.post("/webchat/shop.example.ch", content=body,
                                   headers={"X-Omnicx-Signature": "sha256=00"})
    print(ok.status_code, ok.json())
    print(forged.status_code, forged.json())
    assert ok.json()["stored"] == 1 and forged.status_code == 401


if __name__ == "__main__":
    if "--serve" in sys.argv:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000)
    else:
        asyncio.run(post_one())
