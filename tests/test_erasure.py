"""Erasure by crypto-shredding, and retention: the skeleton stays, the content is gone."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import omnicx
from integrity_support import KEY, event, send, sql, status
from omnicx._crypto import Keyring

SECRET = "my new address is Bahnhofstrasse 1"


def _two_people(history: omnicx.History) -> tuple[omnicx.Contact, omnicx.Contact]:
    send(history, event(1, text=SECRET, seq=1), event(2, text="hello from bob",
                                                      email="bob@example.com"))
    send(history, status(1), {"type": "message.edited", "id": "e1", "message": "m1",
                              "text": f"{SECRET}!", "at": 1_700_000_020})
    send(history, event(3, text=f"{SECRET}?", seq=2, sender="agent"))
    anna = history.contacts.find("anna@example.com")
    bob = history.contacts.find("bob@example.com")
    assert anna is not None and bob is not None
    return anna, bob


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_erasure_keeps_the_skeleton_and_verifies(tmp_path: Path, key: bytes | None) -> None:
    with omnicx.open(tmp_path / "h.db", key=key) as history:
        anna, bob = _two_people(history)
        before = history.timeline(anna).items
        assert history.erase(anna) == 2
        after = history.timeline(anna).items
        assert [(i.id, i.channel, i.direction, i.occurred_at) for i in after] == [
            (i.id, i.channel, i.direction, i.occurred_at) for i in before]
        assert all(i.erased and i.text is None and i.sender is None and i.data == {}
                   for i in after)
        assert history.events(after[-1]) == [] or all(
            e.data == {} for e in history.events(after[-1]))
        assert history.contacts.find("anna@example.com") is None
        erased = history.contacts.get(anna.id)
        assert erased.erased and erased.addresses == () and erased.display_name is None
        assert history.timeline(bob).items[0].text == "hello from bob"
        report = history.verify()
        assert report.ok, str(report)
        assert report.records == 6  # 3 interactions, 2 events, 1 erasure
    disk = b"".join(p.read_bytes() for p in tmp_path.glob("h.db*"))
    assert SECRET.encode() not in disk
    assert b"anna@example.com" not in disk


def test_erased_content_cannot_be_recovered_with_the_master_key(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path, key=KEY) as history:
        anna, _ = _two_people(history)
        captured = sql(path, "SELECT id, sealed FROM interactions WHERE contact_id = ?",
                       (anna.id,))
        assert len(captured) == 2
        history.erase(anna)
    assert sql(path, "SELECT data_key FROM contacts WHERE id = ?", (anna.id,)) == [(None,)]
    # Everything the master key can still open...
    keyring = Keyring(KEY)
    ciphers: list[AESGCM] = [
        keyring.unwrap(f"contact:{cid}", bytes(wrapped))
        for cid, wrapped in sql(path, "SELECT id, data_key FROM contacts"
                                      " WHERE data_key IS NOT NULL")]
    ((archive,),) = sql(path, "SELECT value FROM omnicx_meta WHERE key = 'archive_key'")
    ciphers.append(keyring.unwrap("archive", base64.b64decode(archive)))
    disk = b"".join(p.read_bytes() for p in tmp_path.glob("h.db*"))
    for iid, sealed in captured:
        # ...opens neither the ciphertext captured before the erasure...
        for cipher in ciphers:
            with pytest.raises(omnicx.StorageError):
                Keyring.open(cipher, bytes(sealed), b"i/%d" % iid)
        # ...nor is that ciphertext still in the file (secure_delete).
        assert bytes(sealed) not in disk
    # And every sealed value left in the database belongs to someone else.
    left = sql(path, "SELECT sealed FROM interactions WHERE sealed IS NOT NULL"
                     " UNION ALL SELECT sealed FROM events WHERE sealed IS NOT NULL"
                     " UNION ALL SELECT sealed FROM raw_payloads WHERE sealed IS NOT NULL")
    for (sealed,) in left:
        assert SECRET.encode() not in bytes(sealed)


def test_erasing_a_merged_person_erases_every_member(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        anna, bob = _two_people(history)
        history.contacts.merge(anna, bob)
        assert history.erase(bob) == 3
        assert all(i.erased for i in history.timeline(anna).items)
        assert history.contacts.get(bob.id).erased
        assert history.verify().ok
        # The same person writing again starts a new, unrelated contact.
        send(history, event(10, text="hi again"))
        again = history.contacts.find("anna@example.com")
        assert again is not None and again.id not in (anna.id, bob.id)
        assert history.timeline(again).items[0].text == "hi again"
        assert history.verify().ok


def test_erasure_needs_no_master_key(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db", key=KEY) as history:
        anna, _ = _two_people(history)
    with omnicx.open(tmp_path / "h.db") as history:
        assert history.erase(anna) == 2
        assert history.verify().ok


def test_erasing_an_unknown_contact(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history, pytest.raises(omnicx.NotFoundError):
        history.erase(42)


def test_a_deleted_erasure_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with omnicx.open(path) as history:
        anna, _ = _two_people(history)
        history.erase(anna)
    sql(path, "DELETE FROM erasures")
    with omnicx.open(path) as history:
        kinds = {p.kind for p in history.verify().problems}
    assert kinds == {"removed", "edited"}


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_retention_erases_old_content_only(tmp_path: Path, key: bytes | None) -> None:
    with omnicx.open(tmp_path / "h.db", key=key) as history:
        anna, bob = _two_people(history)
        now = dt.datetime.now(dt.UTC)
        send(history, event(4, text="recent", at=int(now.timestamp()) - 60))
        cutoff = dt.datetime.fromtimestamp(1_700_000_002.5, dt.UTC)
        assert history.apply_retention(older_than=cutoff) == 2  # m1 (anna), m2 (bob)
        items = {i.external_id: i for i in history.timeline(anna).items}
        assert items["m1"].erased and items["m1"].text is None
        assert not items["m3"].erased and items["m3"].text == f"{SECRET}?"
        assert items["m4"].text == "recent"
        assert history.timeline(bob).items[0].erased
        assert history.apply_retention(older_than=dt.timedelta(days=1)) == 1  # m3
        assert history.apply_retention(older_than=dt.timedelta(days=1)) == 0
        assert history.timeline(anna).items[0].text == "recent"
        assert history.contacts.find("anna@example.com") == history.contacts.get(anna.id)
        report = history.verify()
        assert report.ok, str(report)
