"""``omnicx changes``, ``omnicx deliver`` and ``omnicx webhooks``, driven through main()."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest

import omnicx
from omnicx._cli import main
from omnicx.testing import WebChatPayloads
from webhook_receiver import Receiver

CHAT = WebChatPayloads()
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def receive(db: Path, *message_ids: str) -> None:
    with omnicx.open(db) as history:
        for message_id in message_ids:
            body, headers = CHAT.message(message_id)
            history.receive(CHAT.channel, body=body, headers=headers)


def test_changes_print_the_feed_and_resume_from_the_cursor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.db"
    receive(db, "m1", "m2")
    code, output = run("--db", str(db), "changes", "--json")
    assert code == 0
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["kind"] for line in lines] == [
        "contact.created", "interaction.created", "interaction.created"]
    resume = capsys.readouterr().err.split("--after ")[-1].strip()
    assert resume == lines[-1]["cursor"]

    receive(db, "m3")
    code, output = run("--db", str(db), "changes", "--after", resume)
    assert code == 0
    (line,) = output.splitlines()
    assert " interaction.created contact=1 interaction=3 " in line
    assert "channel=webchat" in line

    code, output = run("--db", str(db), "changes", "--kind", "contact.created", "--json")
    assert [json.loads(x)["kind"] for x in output.splitlines()] == ["contact.created"]


def test_changes_follow_prints_what_commits_meanwhile(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    receive(db, "m1")

    def later() -> None:
        time.sleep(0.3)
        receive(db, "m2", "m3")

    writer = threading.Thread(target=later)
    writer.start()
    code, output = run("--db", str(db), "changes", "--follow", "--interval", "0.05",
                       "--max", "4", "--json")
    writer.join()
    assert code == 0
    assert [json.loads(x)["interaction_id"] for x in output.splitlines()] == [None, 1, 2, 3]


def test_webhooks_and_deliver_commands(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "h.db"
    receiver = Receiver(SECRET)
    try:
        monkeypatch.setenv("OMNICX_WEBHOOK_SECRET", SECRET)
        code, output = run("--db", str(db), "webhooks", "add", receiver.url,
                           "--event", "interaction.created")
        assert code == 0
        added = json.loads(output)
        assert added["secret"] == SECRET and added["events"] == ["interaction.created"]
        code, output = run("--db", str(db), "webhooks", "list")
        assert output.strip() == f"#{added['id']} {receiver.url} events=['interaction.created']"

        receive(db, "m1", "m2")
        code, output = run("--db", str(db), "deliver", "--once", "--json")
        assert code == 0
        assert json.loads(output) == {"attempted": 2, "delivered": 2, "failed": 0, "dead": 0}
        assert [b["type"] for b in receiver.received] == ["interaction.created"] * 2

        code, output = run("--db", str(db), "webhooks", "dead")
        assert json.loads(output) == []
        code, output = run("--db", str(db), "webhooks", "resend", "all")
        assert output.strip() == "resent 0"
        code, output = run("--db", str(db), "webhooks", "prune", "--older-than-days", "1")
        assert output.strip() == "pruned 0"  # delivered just now
        code, output = run("--db", str(db), "webhooks", "prune", "--older-than-days", "-1")
        assert output.strip() == "pruned 2"
        code, output = run("--db", str(db), "webhooks", "disable", str(added["id"]))
        assert code == 0
        code, output = run("--db", str(db), "webhooks", "list", "--json")
        assert json.loads(output)[0]["active"] is False
        code, _ = run("--db", str(db), "webhooks", "disable", "x")
        assert code == 2
    finally:
        receiver.close()


@pytest.mark.slow
def test_serve_receives_and_delivers_webhooks(tmp_path: Path) -> None:
    """``omnicx serve`` stores a provider's webhook and sends the change on to the CRM."""
    import subprocess
    import sys

    import httpx

    from webhook_receiver import free_port

    db = tmp_path / "h.db"
    receiver = Receiver(SECRET)
    config = tmp_path / "channels.toml"
    config.write_text(f'[[channel]]\ntype = "webchat"\nsecret = "{CHAT.secret}"\n'
                      f'site = "{CHAT.site}"\n')
    port = free_port()
    with omnicx.open(db) as history:
        history.webhooks.add(receiver.url, secret=SECRET, events={"interaction.created"})
    server = subprocess.Popen(
        [sys.executable, "-m", "omnicx._cli", "--db", str(db), "serve", "--channels",
         str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body, headers = CHAT.message("m1")
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/webchat/{CHAT.site}",
                                    content=body, headers=headers)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.status_code == 200
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=20)
        receiver.close()
    (sent,) = receiver.received
    assert sent["type"] == "interaction.created"
    assert sent["data"]["channel"] == "webchat"
