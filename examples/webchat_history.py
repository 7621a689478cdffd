"""Receive a web chat conversation and print the customer's unified timeline.

Run: python examples/webchat_history.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import omnicx
from omnicx.channels import WebChat


def main() -> None:
    chat = WebChat(secret="shared-with-the-widget", site="shop.example.ch")
    visitor = {"id": "v-42", "email": "jonas@example.org", "name": "Jonas"}
    deliveries = [
        [{"type": "session.started", "id": "s-1", "session": "S", "at": "2026-11-03T08:00:00Z",
          "visitor": visitor}],
        [{"type": "message", "id": "m-1", "session": "S", "at": "2026-11-03T08:00:10Z",
          "from": "visitor", "visitor": visitor, "text": "Can I change my delivery address?"}],
        # The read receipt overtakes the agent's message it refers to...
        [{"type": "message.read", "id": "r-2", "message": "m-2", "at": "2026-11-03T08:01:30Z"}],
        # ...which arrives next, twice (the widget retried).
        [{"type": "message", "id": "m-2", "session": "S", "at": "2026-11-03T08:01:00Z",
          "from": "agent", "agent": {"id": "a-7", "name": "Lea"}, "visitor": visitor,
          "reply_to": "m-1", "text": "Yes, until it ships. Which address?"}],
        [{"type": "message", "id": "m-2", "session": "S", "at": "2026-11-03T08:01:00Z",
          "from": "agent", "agent": {"id": "a-7", "name": "Lea"}, "visitor": visitor,
          "reply_to": "m-1", "text": "Yes, until it ships. Which address?"}],
    ]
    with tempfile.TemporaryDirectory() as tmp, omnicx.open(Path(tmp) / "h.db") as history:
        for events in deliveries:
            body = json.dumps({"site": chat.site, "events": events}).encode()
            receipt = history.receive(chat, body=body, headers=chat.sign(body))
            print(f"stored {receipt.stored} duplicates {receipt.duplicates}"
                  f" updates {receipt.updates} open gaps {len(history.gaps())}")
        contact = history.contacts.find("JONAS@example.org")
        assert contact is not None
        print(f"\n{contact.display_name}'s timeline:")
        for item in history.timeline(contact).items:
            print(f"  {item.occurred_at:%H:%M:%S} {item.direction:<8} {item.text or item.kind}"
                  f"{f'  [{item.status}]' if item.status else ''}")


if __name__ == "__main__":
    main()
