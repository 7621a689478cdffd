"""Streaming .eml files, mbox files and Maildirs, with resumable positions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _email_corpus import synthetic_mail, write_mbox

from omnicx.channels.email._mailsources import MailSourceError, detect_format, iter_messages
from omnicx.channels.email._mime import parse_mail

SAMPLES = Path(__file__).parent / "email_samples"


def test_single_eml(tmp_path: Path) -> None:
    path = SAMPLES / "gmail_reply_en.eml"
    assert detect_format(path) == "eml"
    assert list(iter_messages(path)) == [("eml:1", path.read_bytes())]
    assert list(iter_messages(path, after="eml:1")) == []


def test_mbox_splits_unescapes_and_resumes(tmp_path: Path) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(
        b"From jane@example.com Mon Mar  3 10:00:00 2025\n"
        b"From: jane@example.com\nMessage-ID: <a@x>\nSubject: one\n\n"
        b"line one\n>From the start of a line\n>>From twice\n\n"
        b"From bob@example.com Mon Mar  3 11:00:00 2025\n"
        b"From: bob@example.com\nMessage-ID: <b@x>\nSubject: two\n\nFrom here on, body\n\n"
        b"From carol@example.com Mon Mar  3 12:00:00 2025\n"
        b"From: carol@example.com\nMessage-ID: <c@x>\nSubject: three\n\nlast\n")
    assert detect_format(mbox) == "mbox"
    items = list(iter_messages(mbox))
    assert [parse_mail(raw).message_id for _, raw in items] == ["a@x", "b@x", "c@x"]
    assert b"\nFrom the start of a line\n>From twice\n" in items[0][1]
    assert items[0][1].endswith(b">From twice\n")  # the separator's blank line is not content
    assert b"From here on, body" in items[1][1]  # "From " without a blank line before it
    positions = [position for position, _ in items]
    assert positions[-1] == f"mbox:{mbox.stat().st_size}"
    resumed = list(iter_messages(mbox, after=positions[0]))
    assert resumed == items[1:]
    assert list(iter_messages(mbox, after=positions[-1])) == []


def test_mbox_rejects_a_position_that_is_not_a_message_start(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "a.mbox", 3)
    with pytest.raises(MailSourceError, match="not a message start"):
        list(iter_messages(mbox, after="mbox:7"))
    with pytest.raises(MailSourceError, match="past the end"):
        list(iter_messages(mbox, after="mbox:999999999"))
    with pytest.raises(MailSourceError, match="does not belong"):
        list(iter_messages(mbox, after="maildir:123"))
    with pytest.raises(MailSourceError, match="bad position"):
        list(iter_messages(mbox, after="mbox:abc"))


def test_large_mbox_streams_every_message(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "big.mbox", 2000)
    count = 0
    ids = set()
    for _, raw in iter_messages(mbox):
        ids.add(parse_mail(raw).message_id)
        count += 1
    assert count == 2000
    assert len(ids) == 2000


def _maildir(root: Path, count: int) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        sub = "cur" if i % 2 else "new"
        flags = ":2,S" if sub == "cur" else ""
        (root / sub / f"17410000{i:02d}.M{i}P1.host{flags}").write_bytes(synthetic_mail(i))
    return root


def test_maildir_in_delivery_order_and_resumable(tmp_path: Path) -> None:
    root = _maildir(tmp_path / "Maildir", 6)
    assert detect_format(root) == "maildir"
    items = list(iter_messages(root))
    assert [parse_mail(raw).message_id for _, raw in items] == [
        parse_mail(synthetic_mail(i)).message_id for i in range(6)]
    # a message read in between moves from new/ to cur/ and gets flags: still the same position
    moved = root / "new" / "1741000000.M0P1.host"
    shutil.move(moved, root / "cur" / "1741000000.M0P1.host:2,S")
    assert [p for p, _ in iter_messages(root)] == [p for p, _ in items]
    assert list(iter_messages(root, after=items[2][0])) == items[3:]


def test_directory_of_eml_files(tmp_path: Path) -> None:
    for name in ("b.eml", "a.eml", "notes.txt"):
        shutil.copy(SAMPLES / "outbound.eml", tmp_path / name)
    assert detect_format(tmp_path) == "dir"
    assert [p for p, _ in iter_messages(tmp_path)] == ["dir:a.eml", "dir:b.eml"]
    assert [p for p, _ in iter_messages(tmp_path, after="dir:a.eml")] == ["dir:b.eml"]


def test_missing_path_is_a_mail_source_error(tmp_path: Path) -> None:
    with pytest.raises(MailSourceError, match="no such"):
        list(iter_messages(tmp_path / "nope.mbox"))
