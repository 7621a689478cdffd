"""Encryption at rest: content, event data and raw payloads never hit the disk in the clear."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

import omnicx
from integrity_support import CHAT, KEY, OTHER_KEY, event, send, sql
from omnicx import _crypto
from omnicx._crypto import parse_key

SECRET = "Top secret parcel 4711"


def _disk(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("h.db*")))


def _fill(history: omnicx.History) -> None:
    send(history, event(1, text=SECRET, attachments=[{"filename": "passport.pdf",
                                                       "content_type": "application/pdf"}]))
    send(history, {"type": "message.edited", "id": "e1", "message": "m1",
                   "text": f"{SECRET} (edited)", "at": 1_700_000_010})
    # An edit waiting for its message is sealed under the archive key.
    send(history, {"type": "message.edited", "id": "e2", "message": "m9",
                   "text": f"{SECRET} early", "at": 1_700_000_011})
    body = json.dumps({"site": "shop", "events": [{"type": "message", "id": "q1",
                                                   "text": SECRET}]}).encode()
    with pytest.raises(omnicx.PayloadError):
        history.receive(CHAT, body=body, headers=CHAT.sign(body))


def test_a_known_body_never_reaches_the_file(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        _fill(history)
        assert history.encrypted
    disk = _disk(tmp_path)
    assert len(disk) > 10_000
    assert SECRET.encode() not in disk
    assert b"passport.pdf" not in disk
    assert b"Top secret" not in disk
    # Addresses are stored as blind indexes, names sealed.
    assert b"anna@example.com" not in disk
    assert b"Anna Muster" not in disk


def test_without_a_key_the_same_body_is_in_the_clear(tmp_path: Path) -> None:
    # The control experiment for the test above.
    with omnicx.open(tmp_path / "h.db") as history:
        _fill(history)
        assert not history.encrypted
    assert SECRET.encode() in _disk(tmp_path)


def test_reading_decrypts_transparently(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        _fill(history)
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        (item,) = history.timeline(anna).items
        assert item.text == SECRET
        assert item.sender is not None and item.sender.value == "anna@example.com"
        assert item.attachments[0].filename == "passport.pdf"
        assert history.interaction(item.id) == item
        (edit,) = history.events(item)
        assert edit.data["text"] == f"{SECRET} (edited)"
        # Listed as replay() would use it: opened (it is sealed at rest).
        (quarantined,) = history.quarantine()
        assert quarantined.sealed is None and SECRET.encode() in quarantined.body
        assert quarantined.headers == CHAT.sign(quarantined.body)
        # Found by exact match, read back readable.
        assert history.contacts.find("ANNA@example.com") == anna
        assert [str(a) for a in anna.addresses] == ["email:anna@example.com"]
        assert [c.id for c in history.contacts] == [anna.id]
    # The early edit is attached (and opened) once its message arrives.
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        send(history, event(9, text="late"))
        late = history.timeline(anna).items[0]
        assert [e.data["text"] for e in history.events(late)] == [f"{SECRET} early"]
        assert history.verify().ok


def test_replay_opens_the_sealed_archive(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        _fill(history)
        (quarantined,) = history.quarantine()
        with pytest.raises(omnicx.PayloadError):
            history.replay(quarantined.id, CHAT)  # still unparseable, but it was opened
        assert history.quarantine()[0].error == quarantined.error


def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    omnicx.open(tmp_path / "h.db", key=KEY).close()
    with pytest.raises(omnicx.ConfigurationError, match="different key"):
        omnicx.open(tmp_path / "h.db", key=OTHER_KEY)


def test_without_the_key_content_stays_closed_but_verify_works(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        _fill(history)
    with omnicx.open(tmp_path / "h.db") as history:
        assert history.verify().ok
        # Without the key an address cannot even be looked up (blind index), and
        # find says so rather than answer "nobody".
        with pytest.raises(omnicx.ConfigurationError, match="needs its key"):
            history.contacts.find("anna@example.com")
        (anna,) = list(history.contacts)
        assert anna.display_name is not None and anna.display_name.startswith("sealed:")
        with pytest.raises(omnicx.ConfigurationError, match="encrypted"):
            history.timeline(anna)
        with pytest.raises(omnicx.ConfigurationError, match="encrypted"):
            send(history, event(2))


def test_a_sealed_value_moved_to_another_row_does_not_open(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        send(history, event(1, text=SECRET), event(2, text="other"))
    sql(tmp_path / "h.db", "UPDATE interactions SET sealed = (SELECT sealed FROM interactions"
                           " WHERE external_id = 'm1') WHERE external_id = 'm2'")
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        with pytest.raises(omnicx.StorageError, match="does not open"):
            history.timeline(anna)
        assert not history.verify().ok


def test_key_rotation_rewraps_without_rewriting_content(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path, key=KEY) as history:
        _fill(history)
        before = sql(path, "SELECT id, sealed FROM interactions ORDER BY id")
        keys = sql(path, "SELECT data_key FROM contacts ORDER BY id")
        assert history.rotate_key(OTHER_KEY) == 1
        assert sql(path, "SELECT id, sealed FROM interactions ORDER BY id") == before
        assert sql(path, "SELECT data_key FROM contacts ORDER BY id") != keys
    with pytest.raises(omnicx.ConfigurationError):
        omnicx.open(path, key=KEY)
    with omnicx.open(path, key=OTHER_KEY) as history:
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        assert history.timeline(anna).items[0].text == SECRET
        assert SECRET.encode() in history.quarantine()[0].body
        assert history.verify().ok


def test_the_key_comes_from_the_environment(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNICX_KEY", base64.b64encode(KEY).decode())
    with omnicx.open(tmp_path / "h.db") as history:
        assert history.encrypted
        send(history, event(1, text=SECRET))
    assert SECRET.encode() not in _disk(tmp_path)


@pytest.mark.parametrize("text", [
    KEY,
    KEY.hex(),
    base64.b64encode(KEY).decode(),
    base64.urlsafe_b64encode(KEY).decode().rstrip("="),
    base64.b64encode(KEY),
])
def test_key_formats(text: bytes | str) -> None:
    assert parse_key(text) == KEY


@pytest.mark.parametrize("text", ["short", base64.b64encode(b"x" * 16).decode(), "!" * 44])
def test_bad_keys_are_configuration_errors(text: str) -> None:
    with pytest.raises(omnicx.ConfigurationError):
        parse_key(text)


def test_working_in_the_clear_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_crypto, "_warned", set())

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "omnicx"]

    with caplog.at_level(logging.WARNING, logger="omnicx"):
        with omnicx.open(tmp_path / "c.db", key=KEY) as history:
            send(history, event(1))
        omnicx.open(tmp_path / "a.db").close()
        assert said() == []  # opening only, or writing sealed, is nothing to warn about
        with omnicx.open(tmp_path / "a.db") as history:
            send(history, event(1))
            send(history, event(2))
        with omnicx.open(tmp_path / "b.db") as history:
            send(history, event(1))
    (message,) = said()
    assert "in the clear" in message


def test_an_encrypted_history_without_its_key_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_crypto, "_warned", set())
    monkeypatch.delenv("OMNICX_KEY", raising=False)
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        send(history, event(1))
    with caplog.at_level(logging.WARNING, logger="omnicx"), \
            omnicx.open(tmp_path / "h.db") as history:
        assert history.key_missing and not history.encrypted
        assert history.verify().ok  # needs no key
        with pytest.raises(omnicx.ConfigurationError, match="needs its key"):
            history.contacts.find("anna@example.com")
        with pytest.raises(omnicx.ConfigurationError, match="encrypted"):
            history.timeline(1)
        with pytest.raises(omnicx.ConfigurationError, match="encrypted"):
            send(history, event(2))
    # Not the false "no encryption key configured": the history has one, we lack it.
    assert [r for r in caplog.records if r.name == "omnicx"] == []


def test_addresses_stored_before_the_key_are_still_found(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, event(1, text="in the clear"))
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        send(history, event(2, text="sealed"), event(3, email="new@example.com"))
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        assert [i.text for i in history.timeline(anna).items] == ["sealed", "in the clear"]
        new = history.contacts.find("new@example.com")
        assert new is not None and new.addresses[0].value == "new@example.com"
        assert history.verify().ok
    assert sql(tmp_path / "h.db", "SELECT count(*) FROM addresses WHERE value LIKE 'bi:%'"
               ) == [(1,)]


def test_an_email_subject_and_its_thread_key_never_reach_the_file(tmp_path: Path) -> None:
    """The subject is content: sealed in conversations, its thread key blind-indexed."""
    from omnicx.channels import Email

    subject = "Kuendigung Vertrag 88-4711"
    mailbox = Email(mailbox="support@example.com")

    def mail(number: int, hour: int) -> bytes:
        return (f"From: Anna <anna@example.com>\r\nTo: support@example.com\r\n"
                f"Subject: {'Re: ' if number > 1 else ''}{subject}\r\n"
                f"Message-ID: <s-{number}@example.com>\r\n"
                f"Date: Wed, 05 Mar 2025 {hour:02d}:00:00 +0000\r\n\r\nHello\r\n").encode()

    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        (first,) = history.receive(mailbox, body=mail(1, 9)).interactions
        (second,) = history.receive(mailbox, body=mail(2, 10)).interactions
        assert second.conversation_id == first.conversation_id  # threaded by subject
        with history.store.reading() as tx:
            conversation = tx.conversation(first.conversation_id)
        assert conversation is not None and conversation.subject == subject
    disk = _disk(tmp_path)
    assert subject.encode() not in disk
    assert subject.lower().encode() not in disk
