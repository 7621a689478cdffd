"""The hash chain: verify() passes on honest histories and names every tampered row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import pytest

import omnicx
import omnicx.storage
from integrity_support import KEY, event, send, sql, status
from omnicx import Address, SendResult, Status


@pytest.fixture(params=[None, KEY], ids=["clear", "encrypted"])
def key(request: pytest.FixtureRequest) -> bytes | None:
    return request.param  # type: ignore[no-any-return]


def _populated(path: Path, key: bytes | None) -> omnicx.History:
    history = omnicx.open(path, key=key)
    send(history, event(1, seq=1), event(2, seq=2, text="second"))
    send(history, status(1), {"type": "message.edited", "id": "edit-1", "message": "m2",
                              "text": "second, edited", "at": 1_700_000_050})
    send(history, event(3, seq=3, text="third"), event(4, text="to bob", email="bob@example.com"))
    # A status that waits for its message, then the message: the event joins the chain late.
    send(history, status(5, "message.delivered"))
    send(history, event(5, seq=4, text="fifth", sender="agent"))
    return history


def _problems(path: Path, key: bytes | None) -> list[tuple[str, str | None, int | None]]:
    with omnicx.open(path, key=key) as history:
        report = history.verify()
    assert not report.ok
    return [(p.kind, p.table, p.record_id) for p in report.problems]


def test_an_honest_history_verifies(tmp_path: Path, key: bytes | None) -> None:
    with _populated(tmp_path / "h.db", key) as history:
        report = history.verify()
        assert report.ok, str(report)
        assert report.contacts == 2
        # 5 interactions, the read status, the edit and the late delivered status.
        assert report.records == 8
        assert "ok" in str(report)
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        (delivered,) = history.statuses(history.timeline(anna).items[0])
        assert delivered.status == Status.DELIVERED


def test_an_edited_body_is_named(tmp_path: Path, key: bytes | None) -> None:
    path = tmp_path / "h.db"
    _populated(path, key).close()
    if key is None:
        sql(path, "UPDATE interactions SET text = 'forged' WHERE external_id = 'm2'")
    else:
        sql(path, "UPDATE interactions SET sealed = randomblob(length(sealed))"
                  " WHERE external_id = 'm2'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'm2'")[0]
    assert _problems(path, key) == [("edited", "interactions", iid)]


def test_an_edited_skeleton_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "UPDATE interactions SET occurred_at = occurred_at + 1 WHERE external_id = 'm3'")
    sql(path, "UPDATE events SET error = 'forged' WHERE event_id = 'edit-1'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'm3'")[0]
    (eid,) = sql(path, "SELECT id FROM events WHERE event_id = 'edit-1'")[0]
    assert sorted(_problems(path, None), key=str) == sorted(
        [("edited", "interactions", iid), ("edited", "events", eid)], key=str)


def test_a_deleted_row_is_named(tmp_path: Path, key: bytes | None) -> None:
    path = tmp_path / "h.db"
    _populated(path, key).close()
    (seq,) = sql(path, "SELECT chain_seq FROM interactions WHERE external_id = 'm2'")[0]
    (event_seq,) = sql(path, "SELECT chain_seq FROM events WHERE event_id = 'edit-1'")[0]
    sql(path, "DELETE FROM events WHERE event_id = 'edit-1'")
    sql(path, "DELETE FROM interactions WHERE external_id = 'm2'")
    with omnicx.open(path, key=key) as history:
        report = history.verify()
    assert {(p.kind, p.position) for p in report.problems} == {
        ("removed", seq), ("removed", event_seq)}


def test_deleting_the_latest_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "DELETE FROM events WHERE interaction_id ="
              " (SELECT id FROM interactions WHERE external_id = 'm5')")
    with omnicx.open(path) as history:
        problems = history.verify().problems
    # The deleted event was the delivered status: the status it set is now unexplained.
    assert sorted((p.kind, p.table, p.detail) for p in problems) == [
        ("edited", "interactions", "status differs from the best-ranked status chained for it"),
        ("removed", None, "no record at chain position 7")]


def test_two_swapped_rows_are_named(tmp_path: Path, key: bytes | None) -> None:
    path = tmp_path / "h.db"
    _populated(path, key).close()
    a, b = (r[0] for r in sql(path, "SELECT id FROM interactions WHERE external_id IN"
                                    " ('m1', 'm3') ORDER BY id"))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"""
        CREATE TEMP TABLE moved AS SELECT * FROM interactions WHERE id IN ({a}, {b});
        DELETE FROM interactions WHERE id IN ({a}, {b});
        UPDATE moved SET id = CASE id WHEN {a} THEN {b} ELSE {a} END;
        INSERT INTO interactions SELECT * FROM moved;
    """)
    conn.close()
    problems = _problems(path, key)
    # m1 was read, m3 was not: the statuses moved with the rows, the read event did not.
    assert sorted(problems) == [("edited", "interactions", a), ("edited", "interactions", b),
                                ("reordered", "interactions", a), ("reordered", "interactions", b)]


def test_an_inserted_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "INSERT INTO interactions (id, contact_id, conversation_id, channel, account,"
              " external_id, direction, kind, occurred_at, received_at, text)"
              " SELECT 99, contact_id, conversation_id, channel, account, 'ghost', direction,"
              " kind, occurred_at, received_at, 'I never said this' FROM interactions"
              " WHERE external_id = 'm1'")
    assert _problems(path, None) == [("inserted", "interactions", 99)]


def test_an_inserted_row_copying_chain_fields_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    columns = [r[1] for r in sql(path, "PRAGMA table_info(interactions)")
               if r[1] not in ("id", "external_id")]
    names = ", ".join(columns)
    sql(path, f"INSERT INTO interactions (id, external_id, {names}) SELECT 99, 'ghost', {names}"
              " FROM interactions WHERE external_id = 'm3'")
    problems = _problems(path, None)
    assert ("inserted", "interactions", 99) in problems or (
        "edited", "interactions", 99) in problems
    assert all(p[2] == 99 for p in problems)


def test_a_forged_erasure_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "UPDATE interactions SET text = NULL, erased_at = 1 WHERE external_id = 'm1'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'm1'")[0]
    assert _problems(path, None) == [("edited", "interactions", iid)]


def test_a_changed_external_id_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "UPDATE interactions SET external_id = 'other' WHERE external_id = 'm3'")
    (iid,) = sql(path, "SELECT id FROM interactions WHERE external_id = 'other'")[0]
    assert _problems(path, None) == [("edited", "interactions", iid)]
    sql(path, "UPDATE interactions SET origin_id = 'm3' WHERE id = ?", (iid,))
    assert _problems(path, None) == [("edited", "interactions", iid)]


def test_merged_contacts_keep_both_chains(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        send(history, event(1), event(2, email="bob@example.com"))
        anna = history.contacts.find("anna@example.com")
        bob = history.contacts.find("bob@example.com")
        assert anna is not None and bob is not None
        history.contacts.merge(anna, bob)
        send(history, event(3, email="bob@example.com"), event(4))
        assert history.verify().ok
        assert len(history.timeline(anna).items) == 4
        history.contacts.unmerge(anna, bob)
        send(history, status(3))
        report = history.verify()
        assert report.ok, str(report)
        assert report.records == 5


class _Provider:
    """A `Sender` double that accepts every message."""

    channel = omnicx.Channel.WEBCHAT
    account = "shop"
    address_kinds = ("email",)

    def send(self, message: omnicx.Outgoing) -> SendResult:
        return SendResult(external_id=f"provider-{message.client_id[-6:]}")


def test_outbound_sends_keep_the_chain_valid(tmp_path: Path, key: bytes | None) -> None:
    with omnicx.open(tmp_path / "h.db", key=key) as history:
        sent = history.send(_Provider(), to=Address(kind="email", value="c@example.com"),
                            text="Your parcel left")
        assert sent.external_id.startswith("provider-")
        assert sent.text == "Your parcel left"
        send(history, status(0, "message.read") | {"message": sent.external_id})
        report = history.verify()
        assert report.ok, str(report)
        assert report.records == 3


def test_a_report_prints_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _populated(path, None).close()
    sql(path, "UPDATE interactions SET text = 'x' WHERE external_id = 'm1'")
    with omnicx.open(path) as history:
        text = str(history.verify())
    assert "1 problem(s)" in text
    assert "edited interactions#" in text


def test_rows_written_around_the_ingest_are_reported(tmp_path: Path) -> None:
    with omnicx.open(tmp_path / "h.db") as history:
        (item,) = send(history, event(1)).interactions

        def write(tx: omnicx.storage.Transaction) -> int:
            (new_id,) = tx.new_ids("interactions", 1)
            ghost = attrs.evolve(item, id=new_id, external_id="ghost", text="forged")
            return tx.insert_interactions([ghost])

        assert history.store.atomic(write) == 1
        (problem,) = history.verify().problems
        assert (problem.kind, problem.table) == ("inserted", "interactions")
