"""verify()'s quick check: it vouches for honest contacts and hands every tampered one on.

`omnicx._chain.screen` hashes bytes the database built (SQLite's json_array);
only the contacts it does not pass are walked record by record. These tests
pin both halves: an honest history never needs the slow walk, and each kind
of tampering puts exactly the tampered contact on the slow walk, which then
names the problem (test_integrity.py checks the names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import omnicx
import omnicx._privacy
from integrity_support import KEY, event, send, sql, status
from omnicx._chain import screen
from omnicx.storage import SQLiteStore


def _populated(path: Path, key: bytes | None) -> None:
    with omnicx.open(path, key=key) as history:
        send(history, event(1, seq=1), event(2, seq=2, text="second \"quoted\"\n\u00e9\U0001f600"))
        send(history, status(1), {"type": "message.edited", "id": "edit-1", "message": "m2",
                                  "text": "second, edited", "at": 1_700_000_050})
        send(history, event(3, seq=3, text="third"),
             event(4, text="to bob", email="bob@example.com"))
        send(history, status(5, "message.delivered"))  # waits, then joins the chain
        send(history, event(5, seq=4, text="fifth", sender="agent"))


def _screened(path: Path) -> tuple[int, set[int]]:
    store = SQLiteStore(path)
    try:
        with store.reading() as tx:
            ids = tx.chained_contacts(0, 100)
            inputs = tx.chain_inputs(ids)
            assert inputs is not None
            return screen(ids, tx.chain_heads(ids), inputs)
    finally:
        store.close()


def _contact_of(path: Path, external_id: str) -> int:
    return int(sql(path, "SELECT contact_id FROM interactions WHERE external_id = ?",
                   (external_id,))[0][0])


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_an_honest_history_needs_no_slow_walk(
        tmp_path: Path, key: bytes | None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.db"
    _populated(path, key)
    assert _screened(path) == (8, set())

    def walked(*args: Any) -> None:
        raise AssertionError("an honest contact was walked record by record")

    monkeypatch.setattr(omnicx._privacy, "verify_contact", walked)
    with omnicx.open(path, key=key) as history:
        report = history.verify()
    assert report.ok and report.records == 8 and report.contacts == 2


TAMPERING = {
    "text": "UPDATE interactions SET text = 'forged' WHERE external_id = 'm2'",
    "skeleton": "UPDATE interactions SET occurred_at = occurred_at + 1"
                " WHERE external_id = 'm2'",
    "event": "UPDATE events SET error = 'forged' WHERE event_id = 'edit-1'",
    "event data": "UPDATE events SET data = '{}' WHERE event_id = 'edit-1'",
    "hash": "UPDATE interactions SET hash = randomblob(32) WHERE external_id = 'm2'",
    "prev_hash": "UPDATE interactions SET prev_hash = randomblob(32) WHERE external_id = 'm2'",
    "digest": "UPDATE interactions SET digest = randomblob(32) WHERE external_id = 'm2'",
    "position": "UPDATE interactions SET chain_seq = chain_seq + 100 WHERE external_id = 'm2'",
    "position 0": "UPDATE interactions SET chain_seq = 0 WHERE external_id = 'm1'",
    "no position": "UPDATE interactions SET chain_seq = NULL WHERE external_id = 'm2'",
    "deleted": "DELETE FROM interactions WHERE external_id = 'm2'"
               " AND NOT EXISTS (SELECT 1 FROM events WHERE interaction_id = interactions.id)",
    "deleted event": "DELETE FROM events WHERE event_id = 'edit-1'",
    "deleted latest": "DELETE FROM events WHERE interaction_id ="
                      " (SELECT id FROM interactions WHERE external_id = 'm5')",
    "head": "UPDATE contacts SET chain_head = NULL"
            " WHERE id = (SELECT contact_id FROM interactions WHERE external_id = 'm2')",
    "erased": "UPDATE interactions SET text = NULL, erased_at = 1 WHERE external_id = 'm2'",
    "external id": "UPDATE interactions SET external_id = 'other' WHERE external_id = 'm2'",
    "origin id": "UPDATE interactions SET origin_id = external_id, external_id = 'other'"
                 " WHERE external_id = 'm2'",
    "copied chain fields": "INSERT INTO interactions SELECT 99, contact_id, conversation_id,"
                           " channel, account, 'ghost', direction, kind, message_type,"
                           " occurred_at, received_at, sender_kind, sender_value, sender_name,"
                           " recipients, subject, text, html, attachments, reply_to, status,"
                           " status_rank, data, raw_id, erased_at, sealed, origin_id, chain_seq,"
                           " digest, hash, prev_hash FROM interactions WHERE external_id = 'm2'",
}


@pytest.mark.parametrize("statement", TAMPERING.values(), ids=TAMPERING.keys())
def test_each_tampered_contact_is_handed_on(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "h.db"
    _populated(path, None)
    anna, bob = _contact_of(path, "m2"), _contact_of(path, "m4")
    if "DELETE FROM interactions" in statement:
        sql(path, "DELETE FROM events WHERE event_id = 'edit-1'")
    sql(path, statement)
    intact, suspects = _screened(path)
    assert suspects == {anna}
    assert intact == 1  # bob's one message
    assert bob not in suspects
    with omnicx.open(path) as history:
        assert not history.verify().ok


def test_a_value_json_cannot_hold_falls_back_to_the_slow_walk(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None)
    sql(path, "UPDATE interactions SET subject = X'00ff' WHERE external_id = 'm3'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'm3'")[0]
    with omnicx.open(path) as history:
        report = history.verify()
    assert [(p.kind, p.table, p.record_id) for p in report.problems] == [
        ("edited", "interactions", iid)]
    assert report.records == 8
