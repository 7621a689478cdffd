"""For the read API tests: a populated history, and answers checked against the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import jsonschema

import omnicx
from omnicx._openapi import openapi
from omnicx.testing import WebChatPayloads

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.UTC)

_DOCUMENT = openapi()


def populate(history: omnicx.History, visitors: int = 3, messages: int = 4) -> None:
    """Visitors writing on WebChat (one with an email), agent answers with a read status,
    an edit, a CRM link, a merge and a resolved conversation."""
    chat = WebChatPayloads()
    for v in range(visitors):
        for m in range(messages):
            body, headers = chat.message(
                f"v{v}-m{m}", visitor=f"visitor-{v}", email="mia@example.org" if v == 0 else None,
                text=f"Paket {m} kaputt, Besucher {v}", at=T0 + dt.timedelta(minutes=v * 10 + m))
            history.receive(chat.channel, body=body, headers=headers)
    body, headers = chat.message("agent-1", visitor="visitor-0", sender="agent",
                                 text="We send a new one.", at=T0 + dt.timedelta(minutes=5))
    history.receive(chat.channel, body=body, headers=headers)
    body, headers = chat.status("agent-1", "read", at=T0 + dt.timedelta(minutes=6))
    history.receive(chat.channel, body=body, headers=headers)
    body, headers = chat.signed([{"type": "message.edited", "id": "e1", "message": "v0-m0",
                                  "text": "Paket 0 sehr kaputt",
                                  "at": (T0 + dt.timedelta(minutes=7)).isoformat()}])
    history.receive(chat.channel, body=body, headers=headers)
    first = history.contacts.find("mia@example.org")
    assert first is not None
    history.contacts.link(first, crm_id="crm-0031")
    if visitors > 2:
        second = history.contacts.find(omnicx.Address(kind="webchat",
                                                      value="test-site/visitor-2"))
        assert second is not None
        history.contacts.merge(first, second)
    opener = history.timeline(first, limit=500).items[-1]
    history.conversations.resolve(opener.conversation_id, by="agent:17",
                                  at=T0 + dt.timedelta(minutes=8))


def conforms(answer: httpx.Response, status: int, schema: str) -> Any:
    """``answer`` has ``status`` and a body valid against component ``schema``; its JSON."""
    assert answer.status_code == status, answer.text
    expected = "application/problem+json" if schema == "Problem" else "application/json"
    assert answer.headers["content-type"] == expected
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": _DOCUMENT["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    ).validate(body)
    return body
