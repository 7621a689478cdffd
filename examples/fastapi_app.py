"""omnicx inside a FastAPI app: a webhook endpoint, a CRM-side timeline page, the read API.

- ``POST /hooks/webchat`` answers only after `History.receive` committed
  (`omnicx.answer_webhook`, in FastAPI's thread pool): 200 stored, 401
  forged, 200 quarantined for a payload omnicx could not parse, 503 when
  the store failed (the provider retries).
- ``GET /crm/contacts/{id}/timeline`` is the page a CRM agent opens: the
  contact's interactions across channels, newest first, with an "Older" link.
- ``/omnicx/...`` is omnicx's read API (`omnicx.api_app`), mounted as is.

Run: python examples/fastapi_app.py          # exercises it in-process (httpx)
     python examples/fastapi_app.py --serve  # uvicorn on 127.0.0.1:8000
Needs: pip install 'omnicx[frameworks,server]'
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

import omnicx
from omnicx.channels import WebChat

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def create_app(history: omnicx.History, chat: WebChat, *, api_token: str) -> FastAPI:
    app = FastAPI(title="CRM with omnicx")

    @app.post("/hooks/webchat")
    async def webchat_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        # receive() blocks until the commit: run it off the event loop, answer after it.
        answer = await run_in_threadpool(omnicx.answer_webhook, history, chat, body=body,
                                         headers=dict(request.headers))
        return JSONResponse(dict(answer.body), status_code=answer.status)

    @app.get("/crm/contacts/{contact_id}/timeline", response_class=HTMLResponse)
    def contact_timeline(request: Request, contact_id: int,
                         before: str | None = None) -> HTMLResponse:
        try:
            contact = history.contacts.get(contact_id)
            page = history.timeline(contact, limit=20, before=before)
        except omnicx.NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        title = f"Timeline of {contact.display_name or f'contact #{contact.id}'}"
        return TEMPLATES.TemplateResponse(request, "timeline.html",
                                          {"title": title, "page": page})

    # omnicx's own read API, for the CRM's other services (OpenAPI at /omnicx/openapi.json).
    app.mount("/omnicx", omnicx.api_app(history, tokens=api_token))
    return app


async def demo() -> None:
    import httpx

    chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
    with omnicx.open("crm-history.db") as history:
        app = create_app(history, chat, api_token="a-long-random-api-token")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:
            body = json.dumps({"events": [
                {"type": "message", "id": "m-1", "from": "visitor",
                 "at": "2026-11-03T08:00:10Z", "text": "Where is my parcel?",
                 "visitor": {"id": "v-1", "email": "mia@example.org", "name": "Mia"}}]}).encode()
            stored = await client.post("/hooks/webchat", content=body, headers=chat.sign(body))
            forged = await client.post("/hooks/webchat", content=body,
                                       headers={"X-Omnicx-Signature": "sha256=00"})
            print("webhook:", stored.status_code, stored.json(), "| forged:", forged.status_code)
            contact = history.contacts.find("mia@example.org")
            assert contact is not None and stored.json()["stored"] == 1
            assert forged.status_code == 401
            page = await client.get(f"/crm/contacts/{contact.id}/timeline")
            assert "Where is my parcel?" in page.text
            print("timeline page:", page.status_code, len(page.text), "bytes")
            api = await client.get(f"/omnicx/contacts/{contact.id}/timeline",
                                   headers={"Authorization": "Bearer a-long-random-api-token"})
            print("read API:", api.status_code, api.json()["items"][0]["text"])


if __name__ == "__main__":
    if "--serve" in sys.argv:
        import uvicorn

        token = os.environ.get("OMNICX_API_TOKEN", "")
        history = omnicx.open(os.environ.get("OMNICX_DB", "crm-history.db"))
        chat = WebChat(secret=os.environ["WEBCHAT_SECRET"], site="shop.example.ch")
        uvicorn.run(create_app(history, chat, api_token=token), host="127.0.0.1", port=8000)
    else:
        asyncio.run(demo())
