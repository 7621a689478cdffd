"""Telegram, Messenger and Instagram configured from TOML and served by the webhook receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import messaging_payloads as mp
import telegram_payloads as tp

import omnicx
from omnicx._cli import load_channels

CONFIG = f"""
[[channel]]
type = "telegram"
bot_token = "{tp.BOT_TOKEN}"
secret_token = "{tp.SECRET}"

[[channel]]
type = "messenger"
page_id = "{mp.PAGE_ID}"
app_secret = "app-secret"
verify_token = "chosen-token"

[[channel]]
type = "instagram"
instagram_id = "{mp.IG_ID}"
app_secret = "app-secret"
"""


def exchange(app: Any, *requests: tuple[str, str, bytes, dict[str, str]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnicx") as client:
            return [await client.request(method, path, content=body, headers=headers)
                    for method, path, body, headers in requests]

    return asyncio.run(go())


def test_served_from_a_channel_config(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(CONFIG)
    telegram, messenger, instagram = load_channels(path)
    history = omnicx.open(":memory:")
    app = omnicx.webhook_app(history, [telegram, messenger, instagram])
    update = tp.body(tp.of("text"))
    page_body = mp.body(mp.text())
    ig_body = mp.ig_body(mp.ig_text())
    answers = exchange(
        app,
        ("POST", "/telegram/123456", update, {"X-Telegram-Bot-Api-Secret-Token": tp.SECRET}),
        ("POST", "/telegram/123456", update, {"X-Telegram-Bot-Api-Secret-Token": "guess"}),
        ("GET", f"/messenger/{mp.PAGE_ID}?hub.mode=subscribe&hub.verify_token=chosen-token"
                "&hub.challenge=1158201444", b"", {}),
        ("POST", f"/messenger/{mp.PAGE_ID}", page_body, messenger.sign(page_body)),
        ("POST", f"/instagram/{mp.IG_ID}", ig_body, instagram.sign(ig_body)),
        ("POST", f"/instagram/{mp.IG_ID}", ig_body, {}),
    )
    assert [a.status_code for a in answers] == [200, 401, 200, 200, 200, 401]
    assert answers[2].text == "1158201444"
    assert [a.json()["stored"] for a in (answers[0], answers[3], answers[4])] == [1, 1, 1]
    assert len(list(history.contacts)) == 3
