"""``omnicx poll telegram`` against a real HTTP server on 127.0.0.1 standing in for the Bot API."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import telegram_payloads as p

import omnicx
from omnicx._cli import main


class BotAPI(BaseHTTPRequestHandler):
    """Answers getUpdates like Telegram: updates at or after the offset asked for."""

    updates: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        type(self).calls.append((self.path, request))
        offset = request.get("offset", 0)
        result = [u for u in type(self).updates if u["update_id"] >= offset]
        body = json.dumps({"ok": True, "result": result[: request.get("limit", 100)]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def bot_api() -> Iterator[str]:
    BotAPI.updates = [p.of("text"), p.of("photo", 1366, 10001), p.my_chat_member(10002)]
    BotAPI.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BotAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_poll_stores_updates_and_resumes_from_the_saved_offset(
        bot_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "history.db")
    monkeypatch.setenv("OMNICX_TELEGRAM_TOKEN", p.BOT_TOKEN)
    code, output = run("--db", db, "poll", "telegram", "--api-url", bot_api, "--json")
    assert code == 0 and json.loads(output)["stored"] == 3
    code, output = run("--db", db, "poll", "telegram", "--api-url", bot_api, "--json")
    assert code == 0 and json.loads(output)["stored"] == 0
    paths = [path for path, _ in BotAPI.calls]
    assert paths == [f"/bot{p.BOT_TOKEN}/getUpdates"] * 2
    assert "offset" not in BotAPI.calls[0][1] and BotAPI.calls[1][1]["offset"] == 10003
    with omnicx.open(db) as history:
        contact = history.contacts.find(omnicx.Address(kind="telegram", value="1111111"))
        assert contact is not None
        assert len(history.timeline(contact).items) == 3


def test_poll_refuses_a_token_on_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OMNICX_TELEGRAM_TOKEN", raising=False)
    code, _ = run("--db", str(tmp_path / "h.db"), "poll", "telegram")
    assert code == 2 and "OMNICX_TELEGRAM_TOKEN" in capsys.readouterr().err
