"""After `erase`, no byte of the person is left anywhere the library wrote.

Erasure is tested where the bytes are: the SQLite file and its log (grepped
for the plaintext), and every table of the PostgreSQL schema (read back as
text, ``bytea`` as hex). The person reaches the store through several
copies: their messages, a provider's redelivery of one (a second raw
payload), a payload that could not be parsed (quarantined, with their address
and text), an email thread whose key is the subject. `replay` afterwards must
not bring any of it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import omnicx
from integrity_support import CHAT, KEY, event, send, status
from omnicx.channels import Email
from omnicx.storage import SQLiteStore

SECRET = "my new address is Bahnhofstrasse 1"
SUBJECT = "Kuendigung Vertrag 88-4711"
MAILBOX = Email(mailbox="support@example.com")
SCAN = "scanned ID card of Anna, no. C4711-0815"
MAIL = (
    "From: Anna Muster <anna@example.com>\r\n"
    "To: support@example.com\r\n"
    f"Subject: {SUBJECT}\r\n"
    "Message-ID: <m-100@example.com>\r\n"
    "Date: Wed, 05 Mar 2025 09:12:30 +0100\r\n"
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    f"{SECRET}, please confirm.\r\n"
    '--b\r\nContent-Type: text/plain; name="id.txt"\r\n'
    'Content-Disposition: attachment; filename="id.txt"\r\n\r\n'
    f"{SCAN}\r\n--b--\r\n"
).encode()

BOB = {"email": "bob@example.com", "visitor": {"email": "bob@example.com", "name": "Bob"}}

# What must be gone: the text, the subject, the address, the name, the attachment.
TRACES = (SECRET, SUBJECT, "anna@example.com", "Anna Muster", SCAN)


def _fill(history: omnicx.History) -> tuple[omnicx.Contact, int]:
    first = send(history, event(1, text=SECRET), event(2, text="hello from bob", **BOB))
    send(history, status(1))
    # The provider redelivers the first payload: a duplicate, and a second raw copy.
    body = json.dumps({"site": "shop", "events": [event(1, text=SECRET)]}).encode()
    again = history.receive(CHAT, body=body, headers=CHAT.sign(body))
    assert again.duplicates == 1 and first.stored == 2
    history.receive(MAILBOX, body=MAIL)
    # A payload that cannot be parsed (its time is not a time), naming anna.
    bad = json.dumps({"site": "shop", "events": [event(3, text=SECRET) | {"at": "soon"}]})
    with pytest.raises(omnicx.PayloadError) as raised:
        history.receive(CHAT, body=bad.encode(), headers=CHAT.sign(bad.encode()))
    # And one that names only bob: it must stay.
    other = json.dumps({"site": "shop", "events": [
        event(4, text="bob again", **BOB) | {"at": "later"}]})
    with pytest.raises(omnicx.PayloadError):
        history.receive(CHAT, body=other.encode(), headers=CHAT.sign(other.encode()))
    anna = history.contacts.find("anna@example.com")
    assert anna is not None
    quarantine_id = raised.value.quarantine_id
    assert quarantine_id is not None
    return anna, quarantine_id


Backend = tuple[Callable[[bytes | None], omnicx.History], Callable[[], bytes]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """(open the history with a key or none, every stored byte as one blob)."""
    if request.param == "sqlite":
        path = tmp_path / "h.db"

        def disk() -> bytes:  # the database, its log, and the blob directory
            files = [*tmp_path.glob("h.db*"), *(tmp_path / "h.blobs").rglob("*")]
            return b"".join(p.read_bytes() for p in sorted(files) if p.is_file())

        yield (lambda key: omnicx.open(SQLiteStore(path), key=key)), disk
        return
    url, schema = request.getfixturevalue("postgres_schema")
    import psycopg
    from psycopg import sql

    from omnicx.storage._postgres import PostgresStore

    def tables() -> bytes:
        dump = []
        with psycopg.connect(url, autocommit=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,))]
            for name in names:
                for (row,) in conn.execute(sql.SQL("SELECT t::text FROM {}.{} t").format(
                        sql.Identifier(schema), sql.Identifier(name))):
                    dump.append(row)
        text = "\n".join(dump)
        # bytea columns print as hex: decode them back into bytes too. And the blobs.
        files = sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file())
        return text.encode() + _hex_runs(text) + b"".join(p.read_bytes() for p in files)

    yield (lambda key: omnicx.open(PostgresStore(url, schema=schema), key=key,
                                   blobs=tmp_path / "blobs")), tables


def _hex_runs(text: str) -> bytes:
    """The bytes of every ``\\x...`` hex literal in a row's text form (its bytea cells)."""
    out = []
    for part in text.split("\\\\x")[1:]:
        digits = ""
        for char in part:
            if char in "0123456789abcdef":
                digits += char
            else:
                break
        out.append(bytes.fromhex(digits[:len(digits) - len(digits) % 2]))
    return b"\n".join(out)


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_no_byte_of_the_person_is_left(backend: Backend, key: bytes | None) -> None:
    open_history, stored = backend
    with open_history(key) as history:
        anna, quarantine_id = _fill(history)
        before = stored()
        if key is None:  # the test can see them before: it would see them after
            assert all(trace.encode() in before for trace in TRACES)
        history.erase(anna)
        left = stored()
        for trace in TRACES:
            assert trace.encode() not in left, trace
        # Bob is untouched, his quarantined payload too.
        bob = history.contacts.find("bob@example.com")
        assert bob is not None
        assert [i.text for i in history.timeline(bob).items] == ["hello from bob"]
        (kept,) = history.quarantine()
        assert b"bob again" in kept.body
        # The erased payload cannot be replayed into a new contact.
        with pytest.raises(omnicx.NotFoundError):
            history.replay(quarantine_id, CHAT)
        assert history.contacts.find("anna@example.com") is None
        assert history.verify().ok


def test_the_same_person_writing_again_threads_afresh(tmp_path: Path) -> None:
    """The erased thread key does not pull a new mail into the erased conversation."""
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        history.receive(MAILBOX, body=MAIL)
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        (old,) = history.timeline(anna).items
        history.erase(anna)
        again = MAIL.replace(b"m-100@", b"m-101@").replace(b"2025 09:", b"2025 10:")
        history.receive(MAILBOX, body=again)
        found = history.contacts.find("anna@example.com")
        assert found is not None and found.id != anna.id
        (new,) = history.timeline(found).items
        assert new.conversation_id != old.conversation_id
        assert new.subject == SUBJECT


def test_erasing_a_sealed_quarantine_needs_the_key(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        anna, _ = _fill(history)
    with omnicx.open(tmp_path / "h.db") as history, pytest.raises(
            omnicx.ConfigurationError, match="key"):
        history.erase(anna)
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        assert len(history.quarantine()) == 2  # nothing was half-erased
        history.erase(anna)
        assert len(history.quarantine()) == 1


def test_erasure_clears_this_process_caches(tmp_path: Path) -> None:
    """Caches keyed by readable addresses forget them (blind index, decoded rows)."""
    from omnicx import _crypto
    from omnicx.storage import _sql

    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        anna, _ = _fill(history)
        history.timeline(anna)
        assert _crypto._blind.cache_info().currsize > 0
        history.erase(anna)
        assert _crypto._blind.cache_info().currsize == 0
        assert _sql.stored_address.cache_info().currsize == 0
