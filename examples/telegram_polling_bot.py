"""A Telegram support bot without a public URL: poll, store, answer, all in the history.

Run: python examples/telegram_polling_bot.py

With OMNICX_TELEGRAM_TOKEN set it polls the real Bot API once (long-polling
30 s) and answers nothing; without it, it plays a conversation against a fake
Bot API (an httpx.MockTransport standing in for api.telegram.org): the
customer writes, shares their phone number, edits a message, and the bot's
answer is stored in the same timeline.
"""

from __future__ import annotations

import json
import os
import time

import httpx

import omnicx
from omnicx.channels import Telegram

TOKEN = os.environ.get("OMNICX_TELEGRAM_TOKEN")
ANNA = {"id": 1111111, "is_bot": False, "first_name": "Anna", "last_name": "Keller"}
CHAT = {"id": 1111111, "first_name": "Anna", "type": "private"}
NOW = int(time.time())
PENDING = [  # what Telegram holds for the bot until it is asked for a later offset
    {"update_id": 500, "message": {"message_id": 10, "from": ANNA, "chat": CHAT, "date": NOW - 60,
                                   "text": "Hi, my parcel 4711 did not arrive"}},
    {"update_id": 501, "message": {"message_id": 11, "from": ANNA, "chat": CHAT, "date": NOW - 50,
                                   "contact": {"phone_number": "41791234567",
                                               "first_name": "Anna", "user_id": 1111111}}},
    {"update_id": 502, "edited_message": {"message_id": 10, "from": ANNA, "chat": CHAT,
                                          "date": NOW - 60, "edit_date": NOW - 40,
                                          "text": "Hi, my parcel 4711 did not arrive yet"}},
]


def fake_bot_api(request: httpx.Request) -> httpx.Response:
    method = request.url.path.rsplit("/", 1)[-1]
    call = json.loads(request.content or b"{}")
    if method == "getUpdates":
        offset = call.get("offset", 0)
        return httpx.Response(200, json={"ok": True, "result": [
            u for u in PENDING if u["update_id"] >= offset]})
    if method == "sendMessage":
        return httpx.Response(200, json={"ok": True, "result": {
            "message_id": 12, "chat": CHAT, "date": NOW, "text": call["text"],
            "from": {"id": 123456, "is_bot": True, "first_name": "Support"}}})
    return httpx.Response(404, json={"ok": False, "error_code": 404,
                                     "description": "Not Found"})


def main() -> None:
    history = omnicx.open(":memory:")
    if TOKEN:
        with Telegram(bot_token=TOKEN, poll_timeout=30) as telegram:
            receipt = history.poll(telegram)
        print(f"stored {receipt.stored} new updates, {receipt.duplicates} seen before")
        return
    telegram = Telegram(bot_token="123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
                        transport=httpx.MockTransport(fake_bot_api))
    receipt = history.poll(telegram)
    print(f"poll 1: stored {receipt.stored}, updates {receipt.updates}; next offset "
          f"{history.cursor(telegram.poll_cursor)}")
    print(f"poll 2: stored {history.poll(telegram).stored} (Telegram was told to forget them)")
    anna = history.contacts.find("+41 79 123 45 67")  # the number she shared
    assert anna is not None
    first = history.timeline(anna).items[-1]
    history.send(telegram, to=anna, text="Sorry! It leaves our warehouse today.",
                 reply_to=first)
    print(f"\nTimeline of {anna.display_name} (contact #{anna.id}), newest first:")
    for item in history.timeline(anna).items:
        edits = [e.data.get("text") for e in history.events(item) if e.kind == "edited"]
        shown = item.text or item.message_type
        print(f"  {item.occurred_at:%H:%M:%S} {item.direction:8} {shown}"
              + (f"  (edited: {edits[-1]})" if edits else ""))


if __name__ == "__main__":
    main()
