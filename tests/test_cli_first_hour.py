"""A newcomer's first hour with the ``omnicx`` command, as issue #11 found it.

Each test is one thing a new user tripped over: a mistyped ``--db`` that
silently created an empty database, a warning on every command that was not
even true, national phone numbers, ``| head`` ending in a traceback, a
timeline that lost line breaks and attachments, and contacts after a merge.
Commands run through ``main()`` or, where the terminal matters (stderr,
pipes, exit status), as a real process.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import omnicx
from omnicx._cli import COMMANDS, CREATES, main
from omnicx._demo import run_demo
from omnicx.channels import WebChat

KEY = bytes(range(32)).hex()
CHAT = WebChat(secret="s3cret", site="shop")
LETTER = ("Good morning,\n\nthe parcel for order 48213 arrived today, but the box was crushed"
          " and the lid of the espresso machine inside is broken off.\n\nCould you send a"
          " replacement lid?\nThe photos are attached.\n\nThanks, Anna")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def shell(*argv: str, env: dict[str, str] | None = None, stdin: str | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``omnicx ARGV`` as a separate process, as a user runs it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OMNICX_")}
    return subprocess.run([sys.executable, "-m", "omnicx._cli", *argv], check=False,
                          capture_output=True, text=True, timeout=120, input=stdin,
                          env={**environment, **(env or {})}, cwd=cwd)


def receive(history: omnicx.History, *events: dict[str, Any]) -> omnicx.Receipt:
    body = json.dumps({"site": "shop", "events": list(events)}).encode()
    return history.receive(CHAT, body=body, headers=CHAT.sign(body))


def message(number: int, visitor: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"type": "message", "id": f"m{number}", "session": f"s{number}", "from": "visitor",
            "at": f"2026-11-0{number}T09:14:00Z", "visitor": visitor, "text": "hello",
            **extra}


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    run_demo(path)
    return path


# -- a mistyped --db ---------------------------------------------------------------------------

ARGUMENTS = {"timeline": ["1"], "erase": ["1", "--yes"], "export": ["--all"],
             "conversation": ["1"], "webhooks": ["list"], "search": ["parcel"],
             "merge": ["1", "2"], "unmerge": ["1", "2"], "link": ["1", "crm-1"]}


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - CREATES))
def test_a_command_that_only_reads_never_creates_a_database(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "histroy.db"
    assert run("--db", str(typo), command, *ARGUMENTS.get(command, []))[0] == 2
    assert capsys.readouterr().err == f"omnicx: no history at {typo}: the file does not exist\n"
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_writes_creates_it(tmp_path: Path) -> None:
    mail = tmp_path / "one.eml"
    mail.write_bytes(b"From: Anna <anna@example.ch>\r\nTo: support@shop.example.ch\r\n"
                     b"Subject: Hi\r\nMessage-ID: <a1@example.ch>\r\n"
                     b"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\n\r\nHello\r\n")
    code, _ = run("--db", str(tmp_path / "new.db"), "import", str(mail), "--mailbox",
                  "support@shop.example.ch", "--quiet")
    assert code == 0 and (tmp_path / "new.db").exists()


def test_a_webhook_can_be_set_up_before_anything_arrives(tmp_path: Path) -> None:
    db = str(tmp_path / "new.db")
    assert run("--db", db, "webhooks", "list")[0] == 2  # only looks: creates nothing
    assert list(tmp_path.iterdir()) == []
    assert run("--db", db, "webhooks", "add", "https://crm.example.ch/omnicx")[0] == 0
    assert "https://crm.example.ch/omnicx" in run("--db", db, "webhooks", "list")[1]


def test_the_library_can_refuse_to_create(tmp_path: Path) -> None:
    with pytest.raises(omnicx.NotFoundError, match="does not exist"):
        omnicx.open(tmp_path / "missing.db", create=False)
    assert list(tmp_path.iterdir()) == []
    omnicx.open(tmp_path / "there.db").close()
    omnicx.open(tmp_path / "there.db", create=False).close()
    omnicx.open(":memory:", create=False).close()
    # The empty file an older README run left behind is not a history either.
    (tmp_path / "history.db").touch()
    with pytest.raises(omnicx.NotFoundError, match="holds no omnicx tables"):
        omnicx.open(tmp_path / "history.db", create=False)
    assert (tmp_path / "history.db").stat().st_size == 0


@pytest.mark.postgres
def test_a_mistyped_postgres_schema_is_not_created(postgres_schema: tuple[str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url, schema = postgres_schema
    with pytest.raises(omnicx.NotFoundError, match=schema):
        omnicx.open(url, schema=schema, create=False)
    assert run("--db", url, "--schema", schema, "report")[0] == 2
    assert capsys.readouterr().err == f"omnicx: no history in PostgreSQL schema {schema!r}\n"
    import psycopg

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1 FROM information_schema.schemata"
                            " WHERE schema_name = %s", (schema,)).fetchone() is None
    omnicx.open(url, schema=schema).close()  # a command that writes creates it
    with omnicx.open(url, schema=schema, create=False) as history:
        assert history.report()["contacts"]["total"] == 0


# -- the clear-text warning --------------------------------------------------------------------

def test_reading_says_nothing_about_keys(demo_db: Path) -> None:
    for command in (["contacts"], ["timeline", "1"], ["report"], ["gaps"], ["verify"]):
        result = shell("--db", str(demo_db), *command)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_writing_in_the_clear_is_said_once(tmp_path: Path) -> None:
    mails = tmp_path / "mails"
    mails.mkdir()
    for number in range(3):
        (mails / f"{number}.eml").write_bytes(
            b"From: anna@example.ch\r\nTo: support@shop.example.ch\r\nSubject: Hi\r\n"
            b"Message-ID: <m%d@example.ch>\r\n\r\nHello\r\n" % number)
    result = shell("--db", str(tmp_path / "h.db"), "import", str(mails), "--mailbox",
                   "support@shop.example.ch", "--quiet", "--batch-size", "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no encryption key configured") == 1


def test_an_encrypted_history_without_its_key_says_so(tmp_path: Path) -> None:
    path = tmp_path / "sealed.db"
    with omnicx.open(path, key=KEY) as history:
        receive(history, message(1, {"email": "anna@example.ch", "name": "Anna Keller"}))
    result = shell("--db", str(path), "timeline", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("omnicx: this content is encrypted")
    assert "no encryption key configured" not in result.stderr
    by_address = shell("--db", str(path), "timeline", "anna@example.ch")
    assert by_address.returncode == 2  # not "no contact has the address": it cannot look
    assert "encrypted: finding a contact by address needs its key" in by_address.stderr
    listing = shell("--db", str(path), "contacts")
    assert listing.returncode == 0  # no index tokens, no sealed name: what it cannot read
    assert "bi:" not in listing.stdout and "sealed:" not in listing.stdout
    assert "(addresses encrypted: set OMNICX_KEY)" in listing.stdout
    opened = shell("--db", str(path), "timeline", "anna@example.ch", env={"OMNICX_KEY": KEY})
    assert opened.returncode == 0 and opened.stderr == "" and "hello" in opened.stdout


# -- national numbers --------------------------------------------------------------------------

def test_contacts_find_reads_national_numbers_once_a_region_is_set(demo_db: Path) -> None:
    refused = shell("--db", str(demo_db), "contacts", "--find", "079 123 45 67")
    assert refused.returncode == 2 and "--region" in refused.stderr
    for how in (["--region", "CH"], []):
        found = shell("--db", str(demo_db), *how, "contacts", "--find", "079 123 45 67",
                      env={"OMNICX_REGION": "CH"} if not how else None)
        assert found.returncode == 0, found.stderr
        assert "Anna Keller" in found.stdout and "phone:+41791234567" in found.stdout
    assert run("--db", str(demo_db), "--region", "CH", "timeline", "079 123 45 67")[0] == 0


# -- | head ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["timeline", "1", "--json"], ["timeline", "1"],
                                     ["contacts", "--json"], ["export", "--all"],
                                     ["report"], ["gaps", "--all", "--json"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(demo_db: Path,
                                                           command: list[str]) -> None:
    with subprocess.Popen([sys.executable, "-m", "omnicx._cli", "--db", str(demo_db),
                           *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # `| head -0`: the reader is gone before the first line
        error = process.stderr.read().decode()
        assert process.wait(timeout=120) == 141
    assert error == ""


# -- the timeline ------------------------------------------------------------------------------

@pytest.fixture
def letter_db(tmp_path: Path) -> Path:
    path = tmp_path / "letter.db"
    with omnicx.open(path) as history:
        receive(history, message(2, {"email": "anna@example.ch", "name": "Anna"}, text=LETTER,
                                 attachments=[
            {"filename": "crushed box.jpg", "content_type": "image/jpeg", "size": 734_003},
            {"content_type": "application/pdf", "size": 880}]))
    return path


def test_the_timeline_keeps_line_breaks_and_shows_attachments(
        letter_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    code, output = run("--db", str(letter_db), "timeline", "anna@example.ch", "--lines", "0")
    assert code == 0
    body = [line.strip() for line in output.splitlines()[2:]]
    assert body[:2] == ["Good morning,", ""]
    # Each line of the letter is a line of the view, not glued on with two spaces.
    assert body.index("Could you send a replacement lid?") + 1 == body.index(
        "The photos are attached.")
    assert body[-4:] == ["", "Thanks, Anna", "[file] crushed box.jpg (image/jpeg, 734.0 kB)",
                         "[file] application/pdf, 880 B"]
    assert not [line for line in body if "  " in line]


def test_a_long_message_is_cut_between_words(letter_db: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, output = run("--db", str(letter_db), "timeline", "anna@example.ch", "--lines", "3")
    assert code == 0
    lines = output.splitlines()
    assert all(len(line) <= 60 for line in lines)
    text = [line.strip() for line in lines[2:] if not line.strip().startswith("[file]")]
    assert len(text) == 3 and text[-1].endswith("more lines]")
    words = LETTER.split()
    shown = " ".join(text)[: " ".join(text).index(" [...")].split()
    assert shown == words[:len(shown)]  # whole words, in order, none cut


def test_json_times_are_iso_8601_as_export_writes_them(letter_db: Path) -> None:
    document = json.loads(run("--db", str(letter_db), "timeline", "1", "--json")[1])
    (item,) = document["items"]
    exported = [json.loads(line) for line in
                run("--db", str(letter_db), "export", "1")[1].splitlines()]
    (line,) = [e for e in exported if e["type"] == "interaction"]
    assert item["occurred_at"] == line["occurred_at"] == "2026-11-02T09:14:00+00:00"
    assert item["received_at"] == line["received_at"]
    assert dt.datetime.fromisoformat(document["contact"]["created_at"]).tzinfo is not None
    attachment = item["attachments"][0]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "crushed box.jpg", "image/jpeg", 734_003)


# -- merge, unmerge, link ----------------------------------------------------------------------

def test_merge_lists_every_address_and_unmerge_restores(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    with omnicx.open(path) as history:
        receive(history, message(1, {"email": "anna@example.ch", "name": "Anna Keller"}))
        receive(history, message(2, {"email": "a.keller@work.example", "phone": "+41791234567"}))
    db = ("--db", str(path))
    code, output = run(*db, "merge", "anna@example.ch", "+41 79 123 45 67",
                       "--reason", "same person, confirmed by phone")
    assert code == 0 and "contact #2 merged into #1" in output
    code, listing = run(*db, "contacts")
    assert code == 0
    (line,) = listing.splitlines()
    for address in ("email:anna@example.ch", "email:a.keller@work.example",
                    "phone:+41791234567"):
        assert address in line
    (person,) = json.loads(run(*db, "contacts", "--json")[1])
    assert len(person["addresses"]) == 3
    found = run(*db, "contacts", "--find", "a.keller@work.example")[1]
    assert "#1" in found and "email:anna@example.ch" in found
    merged = json.loads(run(*db, "timeline", "1", "--json")[1])
    assert len(merged["items"]) == 2 and len(merged["contact"]["addresses"]) == 3

    assert run(*db, "link", "anna@example.ch", "0031x00000AbCdE")[0] == 0
    assert "crm=0031x00000AbCdE" in run(*db, "contacts", "--find", "anna@example.ch")[1]

    code, output = run(*db, "unmerge", "1", "2")
    assert code == 0 and "contact #2 stands alone again" in output
    assert len(run(*db, "contacts")[1].splitlines()) == 2
    assert len(json.loads(run(*db, "timeline", "1", "--json")[1])["items"]) == 1
    assert run(*db, "unmerge", "1", "2")[0] == 2  # nothing to undo: one line, status 2
