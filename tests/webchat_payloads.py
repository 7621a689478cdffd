"""Builders for signed WebChat payloads, shared by the core tests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from omnicx.channels import WebChat

CHANNEL = WebChat(secret="test-secret", site="shop")
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
VISITOR = {"id": "v1", "email": "Anna@Example.com", "name": "Anna"}


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def message(ext: str, minutes: float, *, text: str = "hello", sender: str = "visitor",
            visitor: dict[str, Any] | None = None, session: str = "S",
            **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "id": ext, "session": session, "at": at(minutes),
             "from": sender, "visitor": visitor or VISITOR, "text": text}
    event.update(extra)
    return event


def status(ext: str, target: str, minutes: float, kind: str = "message.read") -> dict[str, Any]:
    return {"type": kind, "id": ext, "message": target, "at": at(minutes)}


def signed(*events: dict[str, Any], channel: WebChat = CHANNEL) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"site": channel.site, "events": list(events)}).encode()
    return body, channel.sign(body)
