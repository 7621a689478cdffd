"""The omnicx command, driven through main() as a user would type it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import omnicx
from omnicx._cli import load_channels, main
from omnicx._demo import run_demo


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    run_demo(path)
    return path


def test_demo_builds_one_customer_across_channels(tmp_path: Path) -> None:
    target = tmp_path / "omnicx-demo.db"
    code, output = run("demo", "--output", str(target))
    assert code == 0
    assert "Unified timeline of Anna Keller" in output
    assert "duplicates 1" in output  # the redelivered chat message
    history = omnicx.open(target)
    contact = history.contacts.find("+41 79 123 45 67")
    assert contact == history.contacts.find("anna.keller@example.ch")
    channels = {i.channel for i in history.timeline(contact, limit=100).items}
    assert channels == {"webchat", "whatsapp", "email", "phone", "letter", "sms"}
    call = next(i for i in history.timeline(contact, limit=100).items if i.kind == "call")
    assert call.status == "completed" and history.events(call)[0].kind == "transcribed"
    assert history.gaps() == []
    # Running it again starts from scratch rather than piling up duplicates.
    assert run("demo", "--output", str(target))[0] == 0
    assert len(list(omnicx.open(target).contacts)) == 1


def test_demo_as_the_readme_runs_it(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "omnicx._cli", "demo"], cwd=tmp_path,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "omnicx-demo.db").exists()


def test_timeline_contacts_gaps_quarantine_report(demo_db: Path) -> None:
    code, output = run("--db", str(demo_db), "timeline", "anna.keller@example.ch", "--limit", "3")
    assert code == 0 and "more: --before" in output and output.count("\n  2026") == 3
    code, output = run("--db", str(demo_db), "timeline", "+41791234567", "--json")
    document = json.loads(output)
    assert document["contact"]["display_name"] == "Anna Keller"
    assert document["items"][0]["channel"] == "sms"  # the thank-you: Twilio gives no time
    code, output = run("--db", str(demo_db), "contacts")
    assert "Anna Keller" in output and "phone:+41791234567" in output
    assert run("--db", str(demo_db), "contacts", "--find", "nobody@example.com")[0] == 1
    assert run("--db", str(demo_db), "gaps")[1].strip() == "no open gaps"
    assert "status_without_message" in run("--db", str(demo_db), "gaps", "--all")[1]
    assert "quarantine is empty" in run("--db", str(demo_db), "quarantine")[1]
    report = json.loads(run("--db", str(demo_db), "report", "--json")[1])
    assert report["contacts"]["total"] == 1


def test_errors_are_one_line_and_exit_2(demo_db: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert run("--db", str(demo_db), "timeline", "nobody@example.com")[0] == 2
    assert "no contact has the address" in capsys.readouterr().err


def test_serve_reads_channels_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "channels.toml"
    config.write_text('[[channel]]\ntype = "webchat"\nsecret = "s"\nsite = "shop"\n')
    (chat,) = load_channels(config)
    assert (chat.channel, chat.account) == ("webchat", "shop")
    config.write_text('[[channel]]\ntype = "pager"\n')
    with pytest.raises(omnicx.ConfigurationError):
        load_channels(config)
