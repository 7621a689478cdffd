"""Helpers shared by the integrity, encryption, erasure and export tests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import omnicx
from omnicx.channels import WebChat

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CHAT = WebChat(secret="s3cret", site="shop")


def event(
    number: int,
    *,
    text: str = "hello",
    email: str = "anna@example.com",
    session: str = "s1",
    seq: int | None = None,
    sender: str = "visitor",
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message", "id": f"m{number}", "from": sender, "session": session,
        "text": text, "visitor": {"email": email, "name": "Anna Muster"},
        "at": 1_700_000_000 + number,
    }
    if seq is not None:
        item["seq"] = seq
    item.update(extra)
    return item


def send(history: omnicx.History, *events: dict[str, Any]) -> omnicx.Receipt:
    body = json.dumps({"site": "shop", "events": list(events)}).encode()
    return history.receive(CHAT, body=body, headers=CHAT.sign(body))


def status(number: int, kind: str = "message.read") -> dict[str, Any]:
    return {"type": kind, "id": f"{kind}:m{number}", "message": f"m{number}",
            "at": 1_700_000_100 + number}


def sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run raw SQL on the database file behind the library's back."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()
