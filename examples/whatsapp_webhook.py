"""A WhatsApp Cloud API webhook in a Starlette app, feeding an omnicx history.

Needs Starlette besides omnicx: pip install 'omnicx[examples]' (and, for
--serve, uvicorn: pip install 'omnicx[examples,server]').

Run: python examples/whatsapp_webhook.py          # plays Meta's requests in-process
     python examples/whatsapp_webhook.py --serve  # listens on 127.0.0.1:8000 (omnicx[server])

Set WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN and
WHATSAPP_PHONE_NUMBER_ID for a real number; the defaults are for the demo.
In the demo, replies go to a fake Graph API (an httpx.MockTransport).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import omnicx
from omnicx.channels import WhatsApp

SERVE = "--serve" in sys.argv
PHONE_NUMBER_ID = os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
sent_to_meta: list[dict[str, object]] = []


def fake_graph_api(request: httpx.Request) -> httpx.Response:
    sent_to_meta.append(json.loads(request.content))
    wamid = f"wamid.REPLY{len(sent_to_meta)}"
    return httpx.Response(200, json={"messaging_product": "whatsapp",
                                     "messages": [{"id": wamid}]})


wa = WhatsApp(
    app_secret=os.environ.get("WHATSAPP_APP_SECRET", "demo-app-secret"),
    verify_token=os.environ.get("WHATSAPP_VERIFY_TOKEN", "demo-verify-token"),
    access_token=os.environ.get("WHATSAPP_ACCESS_TOKEN", "demo-token"),
    phone_number_id=PHONE_NUMBER_ID,
    transport=None if SERVE else httpx.MockTransport(fake_graph_api),
)
history = omnicx.open("whatsapp-history.db" if SERVE else ":memory:")


async def handshake(request: Request) -> PlainTextResponse:
    status, body = wa.handshake(request.query_params)
    return PlainTextResponse(body, status_code=status)


async def events(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        receipt = await run_in_threadpool(
            history.receive, wa, body=body, headers=dict(request.headers))
    except omnicx.SignatureError:
        return JSONResponse({"error": "bad signature"}, status_code=401)
    except omnicx.PayloadError as error:  # kept in quarantine; acknowledge
        return JSONResponse({"quarantined": error.quarantine_id})
    for interaction in receipt.interactions:
        if interaction.direction == "inbound" and interaction.message_type == "text":
            await run_in_threadpool(auto_reply, interaction)
    return JSONResponse({"stored": receipt.stored, "duplicates": receipt.duplicates,
                         "updates": receipt.updates})


def auto_reply(interaction: omnicx.Interaction) -> None:
    """Acknowledge a customer's text (inside the 24-hour window, so free-form is fine)."""
    try:
        history.send(wa, to=history.contacts.get(interaction.contact_id),
                     text="Thanks, we got your message.", reply_to=interaction)
    except omnicx.SendError as error:
        print("reply failed:", error)


app = Starlette(routes=[
    Route("/webhooks/whatsapp", handshake, methods=["GET"]),
    Route("/webhooks/whatsapp", events, methods=["POST"]),
])


def webhook(value: dict[str, object], field: str = "messages") -> bytes:
    """A body shaped like Meta's (one entry, one change)."""
    return json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "102290129340398", "changes": [{"field": field, "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881",
                         "phone_number_id": PHONE_NUMBER_ID},
            **value}}]}]}).encode()


async def play_meta() -> None:
    now = int(time.time())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm") as meta:
        challenge = await meta.get("/webhooks/whatsapp", params={
            "hub.mode": "subscribe", "hub.verify_token": "demo-verify-token",
            "hub.challenge": "1158201444"})
        print("handshake:", challenge.status_code, challenge.text)

        message = webhook({
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.IN1", "timestamp": str(now),
                          "type": "text", "text": {"body": "Is my order on its way?"}}]})
        first = await meta.post("/webhooks/whatsapp", content=message, headers=wa.sign(message))
        again = await meta.post("/webhooks/whatsapp", content=message, headers=wa.sign(message))
        forged = await meta.post("/webhooks/whatsapp", content=message,
                                 headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
        print("message:", first.json(), "redelivered:", again.json(),
              "forged:", forged.status_code)

        read = webhook({"statuses": [{"id": "wamid.REPLY1", "status": "read",
                                      "timestamp": str(now + 5),
                                      "recipient_id": "16505551234"}]})
        print("status:", (await meta.post("/webhooks/whatsapp", content=read,
                                          headers=wa.sign(read))).json())

    contact = history.contacts.find("+1 650 555 1234")
    assert contact is not None
    print(f"timeline of {contact.display_name}:")
    for item in history.timeline(contact).items:
        print(f"  {item.occurred_at:%H:%M:%S} {item.direction:<8} {item.status or '':<5}"
              f" {item.external_id:<12} {item.text}")
    print("sent to the Graph API:", sent_to_meta)
    assert first.json()["stored"] == 1 and again.json()["duplicates"] == 1
    assert forged.status_code == 401 and history.gaps() == []


if __name__ == "__main__":
    if SERVE:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000)
    else:
        asyncio.run(play_meta())
