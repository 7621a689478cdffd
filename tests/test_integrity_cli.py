"""The verify, gaps, erase and export subcommands of ``omnicx``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import omnicx
from integrity_support import event, send, sql
from omnicx._cli import main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "h.db"
    with omnicx.open(path) as history:
        send(history, event(1, seq=1, text="hello"), event(2, seq=3, text="again"))
    return path


def run(db: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--db", str(db), *argv], out=out)
    return code, out.getvalue()


def test_verify_passes_then_fails_on_damage(db: Path) -> None:
    code, text = run(db, "verify")
    assert code == 0 and "ok" in text
    sql(db, "UPDATE interactions SET text = 'forged' WHERE external_id = 'm1'")
    code, text = run(db, "verify")
    assert code == 1
    assert "edited interactions#1" in text
    code, text = run(db, "verify", "--json")
    report = json.loads(text)
    assert code == 1 and report["ok"] is False
    assert report["problems"][0]["kind"] == "edited"


def test_gaps_lists_sequence_holes(db: Path) -> None:
    code, text = run(db, "gaps")
    assert code == 0
    assert "chat_sequence" in text and "session:s1#2" in text


def test_export_writes_json_lines(db: Path, tmp_path: Path) -> None:
    code, text = run(db, "export", "anna@example.com")
    lines = [json.loads(line) for line in text.splitlines()]
    assert code == 0
    assert [line["type"] for line in lines].count("interaction") == 2
    target = tmp_path / "all.jsonl"
    code, _ = run(db, "export", "--all", "--output", str(target))
    assert code == 0
    assert len(target.read_text().splitlines()) == 1 + 1 + 2 + 1  # header, contact, 2, gap
    assert run(db, "export")[0] == 2


def test_erase_needs_confirmation(db: Path) -> None:
    assert run(db, "erase", "anna@example.com")[0] == 2
    code, text = run(db, "erase", "anna@example.com", "--yes")
    assert code == 0 and "2 interactions" in text
    assert run(db, "verify")[0] == 0
    assert run(db, "erase", "anna@example.com", "--yes")[0] == 2  # the address is gone
