"""``omnicx send``: a message from the shell, through a channel file, to real servers.

The channels come from the same TOML file ``omnicx serve`` reads (secrets in
a file, not in arguments other users can read). Email goes to an SMTP
server on loopback; WhatsApp to an HTTP server on loopback that answers as
the Graph API documents. Each sent message is in the history afterwards.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import omnicx
from channels._email_servers import run_smtp  # tests/channels: the loopback mail servers
from omnicx._cli import main
from omnicx.channels import WhatsApp

PNID = "106540352242922"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
# The answer to POST /{Version}/{Phone-Number-ID}/messages, as Meta documents it.
ACCEPTED = {"messaging_product": "whatsapp",
            "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": WAMID, "message_status": "accepted"}]}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def graph_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Graph API stand-in on 127.0.0.1 that records each request it accepts."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers["Authorization"],
                             "json": json.loads(body)})
            answer = json.dumps(ACCEPTED).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_send_an_email_through_smtp(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with run_smtp() as smtp:
        config = tmp_path / "channels.toml"
        config.write_text(f"""
[[channel]]
type = "email"
mailbox = "support@shop.example.ch"
display_name = "Shop Support"

[channel.smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
""")
        code, output = run("--db", str(db), "send", "--channels", str(config),
                           "--to", "Anna.Keller@example.ch", "--subject", "Your order 48213",
                           "--text", "It left our warehouse this morning.\nRegards")
        assert code == 0, output
        (mail_from, rcpt_tos, data) = smtp.messages[0]
    assert (mail_from, rcpt_tos) == ("support@shop.example.ch", ["anna.keller@example.ch"])
    assert b"Subject: Your order 48213" in data
    assert "sent #1 via email/support@shop.example.ch to email:anna.keller@example.ch" in output
    with omnicx.open(db) as history:
        anna = history.contacts.find("anna.keller@example.ch")
        assert anna is not None
        (sent,) = history.timeline(anna).items
    assert (sent.direction, sent.status, sent.subject) == ("outbound", "sent", "Your order 48213")
    assert sent.text == "It left our warehouse this morning.\nRegards"


def test_send_whatsapp_to_a_contact_from_stdin(tmp_path: Path, graph_api: tuple[str, list[Any]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    base_url, received = graph_api
    db = tmp_path / "h.db"
    secret = "app-secret"
    wa = WhatsApp(phone_number_id=PNID, app_secret=secret)
    now = int(dt.datetime.now(dt.UTC).timestamp())  # the customer wrote: the window is open
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.INBOUND1",
                          "timestamp": str(now), "type": "text",
                          "text": {"body": "Is my parcel on its way?"}}]}}]}]}).encode()
    with omnicx.open(db) as history:
        history.receive(wa, body=body, headers=wa.sign(body))
    config = tmp_path / "channels.toml"
    config.write_text(f"""
[[channel]]
type = "whatsapp"
phone_number_id = "{PNID}"
app_secret = "{secret}"
access_token = "EAAG-test-token"
base_url = "{base_url}"

[[channel]]
type = "webchat"
secret = "s"
site = "shop"
""")
    monkeypatch.setenv("OMNICX_CHANNELS", str(config))
    monkeypatch.setattr(sys, "stdin", io.StringIO("Yes, it arrives tomorrow."))
    code, output = run("--db", str(db), "--region", "US", "send", "--channel", "whatsapp",
                       "--to", "(650) 555-1234", "--text", "-", "--json")
    assert code == 0, output
    sent = json.loads(output)
    assert (sent["external_id"], sent["status"], sent["channel"]) == (WAMID, "sent", "whatsapp")
    (request,) = received
    assert request["path"].endswith(f"/{PNID}/messages")
    assert request["auth"] == "Bearer EAAG-test-token"
    assert request["json"]["to"] == "16505551234"
    assert request["json"]["text"]["body"] == "Yes, it arrives tomorrow."
    with omnicx.open(db) as history:
        kerry = history.contacts.find("+16505551234")
        assert kerry is not None
        texts = [i.text for i in history.timeline(kerry).items]
    assert texts == ["Yes, it arrives tomorrow.", "Is my parcel on its way?"]


def test_send_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNICX_CHANNELS", raising=False)
    db = ("--db", str(tmp_path / "h.db"))
    assert run(*db, "send", "--to", "anna@example.ch", "--text", "hi")[0] == 2
    assert "--channels FILE or OMNICX_CHANNELS" in capsys.readouterr().err
    config = tmp_path / "channels.toml"
    config.write_text('[[channel]]\ntype = "webchat"\nsecret = "s"\nsite = "shop"\n')
    assert run(*db, "send", "--channels", str(config), "--to", "a@example.ch",
               "--text", "hi")[0] == 2
    assert "senders of" in capsys.readouterr().err  # web chat cannot send
    config.write_text('[[channel]]\ntype = "email"\nmailbox = "a@shop.example"\n'
                      '[[channel]]\ntype = "email"\nmailbox = "b@shop.example"\n')
    assert run(*db, "send", "--channels", str(config), "--to", "a@example.ch",
               "--text", "hi")[0] == 2
    assert "ambiguous" in capsys.readouterr().err
    assert run(*db, "send", "--channels", str(config), "--channel", "email/b@shop.example",
               "--to", "a@example.ch", "--text", " ")[0] == 2
    assert "needs --text" in capsys.readouterr().err
