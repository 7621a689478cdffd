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
from omnicx import Address, SendResult
from omnicx._chain import screen
from omnicx.storage import SQLiteStore


class _Provider:
    """A `Sender` double that accepts every message."""

    channel = omnicx.Channel.WEBCHAT
    account = "shop"
    address_kinds = ("email",)

    def send(self, message: omnicx.Outgoing) -> SendResult:
        return SendResult(external_id="provider-1")


def _populated(path: Path | str, key: bytes | None, **options: Any) -> None:
    """anna: messages, statuses, an edit, a late status; bob: one message; carol: an
    outbound send confirmed by a status; eve: erased. (``path`` and ``options`` as for
    `omnicx.open`, so a PostgreSQL URL and schema too.)"""
    with omnicx.open(path, key=key, **options) as history:
        send(history, event(1, seq=1), event(2, seq=2, text="second \"quoted\"\n\u00e9\U0001f600"))
        send(history, status(1), {"type": "message.edited", "id": "edit-1", "message": "m2",
                                  "text": "second, edited", "at": 1_700_000_050})
        send(history, event(3, seq=3, text="third"),
             event(4, text="to bob", email="bob@example.com"))
        send(history, status(5, "message.delivered"))  # waits, then joins the chain
        send(history, event(5, seq=4, text="fifth", sender="agent"))
        history.send(_Provider(), to=Address(kind="email", value="carol@example.com"),
                     text="Your parcel left")
        send(history, status(0, "message.read") | {"message": "provider-1"})
        send(history, event(6, email="eve@example.com", session="s2"), status(6))
        eve = history.contacts.find("eve@example.com")
        assert eve is not None
        history.erase(eve)


RECORDS = {"anna": 7, "bob": 1, "carol": 3, "eve": 3}  # carol: send, sent, read; eve: erasure too


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


_WHO = {
    "anna": "SELECT contact_id FROM interactions WHERE external_id = 'm1'",
    "carol": "SELECT contact_id FROM interactions WHERE external_id = 'provider-1'",
    "eve": "SELECT contact_id FROM erasures",
}


def _contacts(path: Path) -> dict[str, int]:
    return {name: int(sql(path, query)[0][0]) for name, query in _WHO.items()}


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_an_honest_history_needs_no_slow_walk(
        tmp_path: Path, key: bytes | None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.db"
    _populated(path, key)
    assert _screened(path) == (sum(RECORDS.values()), set())

    def walked(*args: Any) -> None:
        raise AssertionError("an honest contact was walked record by record")

    monkeypatch.setattr(omnicx._privacy, "verify_contact", walked)
    with omnicx.open(path, key=key) as history:
        report = history.verify()
    assert report.ok and report.records == sum(RECORDS.values()) and report.contacts == 4


_M2 = "WHERE external_id = 'm2'"
TAMPERING = {
    "text": ("anna", f"UPDATE interactions SET text = 'forged' {_M2}"),
    "skeleton": ("anna", f"UPDATE interactions SET occurred_at = occurred_at + 1 {_M2}"),
    "event": ("anna", "UPDATE events SET error = 'forged' WHERE event_id = 'edit-1'"),
    "event data": ("anna", "UPDATE events SET data = '{}' WHERE event_id = 'edit-1'"),
    "hash": ("anna", f"UPDATE interactions SET hash = randomblob(32) {_M2}"),
    "prev_hash": ("anna", f"UPDATE interactions SET prev_hash = randomblob(32) {_M2}"),
    "no prev_hash": ("anna", f"UPDATE interactions SET prev_hash = NULL {_M2}"),
    "digest": ("anna", f"UPDATE interactions SET digest = randomblob(32) {_M2}"),
    "text digest": ("anna", f"UPDATE interactions SET digest = 'x' {_M2}"),
    "text hash": ("anna", f"UPDATE interactions SET hash = 'x' {_M2}"),
    "position": ("anna", f"UPDATE interactions SET chain_seq = chain_seq + 100 {_M2}"),
    "position 0": ("anna", "UPDATE interactions SET chain_seq = 0 WHERE external_id = 'm1'"),
    "no position": ("anna", f"UPDATE interactions SET chain_seq = NULL {_M2}"),
    "text position": ("anna", f"UPDATE interactions SET chain_seq = 'two' {_M2}"),
    "deleted": ("anna", "DELETE FROM interactions WHERE external_id = 'm3'"),
    "deleted event": ("anna", "DELETE FROM events WHERE event_id = 'edit-1'"),
    "deleted latest": ("anna", "DELETE FROM events WHERE interaction_id ="
                               " (SELECT id FROM interactions WHERE external_id = 'm5')"),
    "head": ("anna", "UPDATE contacts SET chain_head = NULL WHERE id ="
                     " (SELECT contact_id FROM interactions WHERE external_id = 'm2')"),
    "forged erasure": ("anna", f"UPDATE interactions SET text = NULL, erased_at = 1 {_M2}"),
    "forged event erasure": ("anna", "UPDATE events SET data = NULL, erased_at = 1"
                                     " WHERE event_id = 'edit-1'"),
    "external id": ("anna", f"UPDATE interactions SET external_id = 'other' {_M2}"),
    "status forged": ("anna", "UPDATE interactions SET status = 'played', status_rank = 40"
                              f" {_M2}"),
    "status rank": ("anna", "UPDATE interactions SET status_rank = 5"
                            " WHERE external_id = 'm1'"),
    "status moved back": ("anna", "UPDATE interactions SET status = NULL, status_rank = -1"
                                  " WHERE external_id = 'm1'"),
    "sent status forged": ("carol", "UPDATE interactions SET status = 'failed'"
                                    " WHERE origin_id IS NOT NULL"),
    "first status": ("anna", "UPDATE interactions SET origin_status = 'read'"
                             " WHERE external_id = 'm3'"),
    "plaintext beside sealed": ("anna", "UPDATE interactions SET sealed = X'00', text = 'x'"
                                        " WHERE external_id = 'm3'"),
    "origin id": ("anna", "UPDATE interactions SET origin_id = external_id,"
                          f" external_id = 'other' {_M2}"),
    "copied chain fields": ("anna", "INSERT INTO interactions SELECT 99, contact_id,"
                            " conversation_id, channel, account, 'ghost', direction, kind,"
                            " message_type, occurred_at, received_at, sender_kind, sender_value,"
                            " sender_name, recipients, subject, text, html, attachments,"
                            " reply_to, status, status_rank, data, raw_id, erased_at, sealed,"
                            " origin_id, chain_seq, digest, hash, prev_hash, origin_status"
                            f" FROM interactions {_M2}"),
    "sent id": ("carol", "UPDATE interactions SET external_id = 'other'"
                         " WHERE origin_id IS NOT NULL"),
    "confirmation": ("carol", "DELETE FROM events WHERE external_id = 'provider-1'"),
    "erasure reason": ("eve", "UPDATE erasures SET reason = 'forged'"),
    "erasure scope": ("eve", "UPDATE erasures SET erased_before = 1"),
    "erasure deleted": ("eve", "DELETE FROM erasures"),
    "erased content restored": ("eve", "UPDATE interactions SET erased_at = NULL"
                                       " WHERE erased_at IS NOT NULL"),
}


@pytest.mark.parametrize(("victim", "statement"), TAMPERING.values(), ids=TAMPERING.keys())
def test_each_tampered_contact_is_handed_on(tmp_path: Path, victim: str,
                                            statement: str) -> None:
    path = tmp_path / "h.db"
    _populated(path, None)
    contact_id = _contacts(path)[victim]
    sql(path, statement)
    intact, suspects = _screened(path)
    assert suspects == {contact_id}
    assert intact == sum(RECORDS.values()) - RECORDS[victim]
    with omnicx.open(path) as history:
        report = history.verify()
    assert {p.contact_id for p in report.problems} == {contact_id}, str(report)


def test_a_value_json_cannot_hold_falls_back_to_the_slow_walk(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None)
    sql(path, "UPDATE interactions SET subject = X'00ff' WHERE external_id = 'm3'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'm3'")[0]
    with omnicx.open(path) as history:
        report = history.verify()
    assert [(p.kind, p.table, p.record_id) for p in report.problems] == [
        ("edited", "interactions", iid)]
    assert report.records == sum(RECORDS.values())
