"""A CRM kept in sync with omnicx two ways: pulling the change feed, and receiving webhooks.

Run it: ``python examples/crm_sync.py`` (needs ``omnicx[webhooks]``). It

1. opens a history and receives a few WebChat messages, as a web handler would;
2. syncs a CRM activity table from ``history.changes()``, storing the cursor in
   the same transaction as the rows, then resumes from it after more traffic;
3. runs a CRM endpoint on 127.0.0.1 that verifies each webhook with the
   receiver-side ``standardwebhooks`` library, starts a `DeliveryWorker`,
   and waits until every new message has arrived there.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import standardwebhooks

import omnicx
from omnicx.channels import WebChat

CHAT = WebChat(secret="widget-secret", site="shop.example.ch")


def receive(history: omnicx.History, message_id: str, visitor: str, text: str) -> None:
    event = {"type": "message", "id": message_id, "from": "visitor", "text": text,
             "visitor": {"id": visitor}, "session": "s1", "at": 1767600000}
    body = json.dumps({"site": CHAT.site, "events": [event]}).encode()
    history.receive(CHAT, body=body, headers=CHAT.sign(body))


def sync(history: omnicx.History, crm: sqlite3.Connection) -> int:
    """Copy the changes after the stored cursor into the CRM; return how many."""
    row = crm.execute("SELECT cursor FROM sync WHERE name = 'omnicx'").fetchone()
    page = history.changes(after=row[0] if row else None, limit=500)
    with crm:  # the rows and the cursor that covers them commit together
        for change in page.items:
            crm.execute("INSERT INTO activity VALUES (?, ?, ?, ?)",
                        (change.id, change.kind, change.contact_id, change.interaction_id))
        crm.execute("INSERT INTO sync VALUES ('omnicx', ?) ON CONFLICT (name)"
                    " DO UPDATE SET cursor = excluded.cursor", (page.next_cursor,))
    return len(page.items)


def crm_endpoint(config: dict[str, str], inbox: list[dict[str, Any]]) -> ThreadingHTTPServer:
    """The CRM's webhook endpoint: answers 204 only to a request signed with
    ``config["secret"]`` (set once the webhook is registered)."""

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            try:
                webhook = standardwebhooks.Webhook(config["secret"])
                inbox.append(webhook.verify(body, dict(self.headers)))
            except standardwebhooks.WebhookVerificationError:
                self.send_response(401)
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        history = omnicx.open(Path(tmp) / "history.db")
        crm = sqlite3.connect(Path(tmp) / "crm.db")
        crm.execute("CREATE TABLE sync (name TEXT PRIMARY KEY, cursor TEXT)")
        crm.execute("CREATE TABLE activity (change_id INTEGER PRIMARY KEY, kind TEXT,"
                    " contact_id INTEGER, interaction_id INTEGER)")

        receive(history, "m1", "anna", "Hello")
        receive(history, "m2", "anna", "Where is my parcel?")
        print(f"pulled {sync(history, crm)} changes")
        receive(history, "m3", "bob", "Hi")
        print(f"pulled {sync(history, crm)} more, then {sync(history, crm)}: caught up")

        inbox: list[dict[str, Any]] = []
        config: dict[str, str] = {}
        server = crm_endpoint(config, inbox)
        url = f"http://127.0.0.1:{server.server_address[1]}/omnicx"
        live = history.webhooks.add(url, events={"interaction.created"})
        config["secret"] = live.secret  # "whsec_...", made by omnicx, given to the CRM
        worker = omnicx.DeliveryWorker(history, interval=0.05).start()
        receive(history, "m4", "carla", "Can I change my order?")
        receive(history, "m5", "anna", "Thanks!")
        deadline = time.monotonic() + 10
        while len(inbox) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop()
        server.shutdown()
        server.server_close()
        for event in inbox:
            data = event["data"]
            print(f"webhook #{live.id}: {event['type']} interaction {data['interaction_id']}"
                  f" of contact {data['contact_id']} on {data['channel']}")
        assert [e["data"]["interaction_id"] for e in inbox] == [4, 5]
        rows = crm.execute("SELECT count(*) FROM activity").fetchone()[0]
        print(f"CRM activity rows: {rows}; webhooks received: {len(inbox)}")
        crm.close()
        history.close()


if __name__ == "__main__":
    main()
