"""Every mutable cell edited with raw SQL is a named `Problem`, never an exception.

The chain hashes a record's immutable columns; the columns that legitimately
change after insert (an interaction's status and its rank, a contact's erased
flag and data key) are checked against the chained records instead. Each case
below edits one cell behind the library's back, on SQLite and on PostgreSQL,
and checks that `History.verify` names the row and that `History.timeline`
either still reads it or raises the typed `TamperedError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicx
from integrity_support import KEY, event, send, status
from omnicx._chain import origin_status, status_explained
from omnicx._enums import status_rank
from omnicx.storage import SQLiteStore

Run = Callable[[str], None]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[Callable[[], omnicx.History], Run, str]]:
    """(open the history with the key, run raw SQL behind its back, backend name)."""
    if request.param == "sqlite":
        path = tmp_path / "h.db"

        def run(statement: str) -> None:
            import sqlite3

            conn = sqlite3.connect(path, isolation_level=None)
            try:
                conn.execute(statement)
            finally:
                conn.close()

        yield (lambda: omnicx.open(SQLiteStore(path), key=KEY)), run, "sqlite"
        return
    url, schema = request.getfixturevalue("postgres_schema")
    import psycopg
    from psycopg import sql

    from omnicx.storage._postgres import PostgresStore

    def run_pg(statement: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute(statement.encode())

    yield (lambda: omnicx.open(PostgresStore(url, schema=schema), key=KEY)), run_pg, "postgres"


def _populate(history: omnicx.History) -> None:
    """m1 read, m2 delivered (the status waited for it), m3 without any status."""
    send(history, event(1), event(2, text="second"))
    send(history, status(1))
    send(history, status(3, "message.delivered") | {"message": "m2"})
    send(history, event(3, text="third, no status"))
    assert history.verify().ok


def _id(history: omnicx.History, external_id: str) -> int:
    anna = history.contacts.find("anna@example.com")
    assert anna is not None
    (found,) = [i for i in history.timeline(anna).items if i.external_id == external_id]
    return found.id


# (what, SQL with {m1} {m2} {m3} for the interaction ids, the problem's table and
# whether the row is the interaction ("m1"...) or the contact)
CASES: dict[str, tuple[str, str, str]] = {
    "status forged on a message without one": (
        "UPDATE interactions SET status = 'read', status_rank = 30 WHERE id = {m3}",
        "interactions", "m3"),
    "status forged, rank kept": (
        "UPDATE interactions SET status = 'failed' WHERE id = {m1}", "interactions", "m1"),
    "status moved back": (
        "UPDATE interactions SET status = 'sent', status_rank = 10 WHERE id = {m1}",
        "interactions", "m1"),
    "status forged forward": (
        "UPDATE interactions SET status = 'played', status_rank = 40 WHERE id = {m2}",
        "interactions", "m2"),
    "rank edited alone": (
        "UPDATE interactions SET status_rank = 5 WHERE id = {m2}", "interactions", "m2"),
    "first status edited": (
        "UPDATE interactions SET origin_status = 'read' WHERE id = {m3}", "interactions", "m3"),
    "first status removed": (
        "UPDATE interactions SET origin_status = NULL WHERE id = {m1}", "interactions", "m1"),
    "external id": (
        "UPDATE interactions SET external_id = 'forged' WHERE id = {m3}", "interactions", "m3"),
    "conversation": (
        "UPDATE interactions SET conversation_id = conversation_id + 0 * id + 1000"
        " WHERE id = {m3}", "interactions", "m3"),
    "erased flag set": (
        "UPDATE interactions SET erased_at = 1 WHERE id = {m3}", "interactions", "m3"),
    "sealed content copied from another row": (
        "UPDATE interactions SET sealed = (SELECT sealed FROM interactions WHERE id = {m1})"
        " WHERE id = {m3}", "interactions", "m3"),
    "contact marked erased": (
        "UPDATE contacts SET erased_at = 1", "contacts", "contact"),
    "data key destroyed": (
        "UPDATE contacts SET data_key = NULL", "contacts", "contact"),
    "plaintext beside sealed content": (
        "UPDATE interactions SET text = 'I never said this' WHERE id = {m3}",
        "interactions", "m3"),
    "event moved to another interaction": (
        "UPDATE events SET interaction_id = {m3} WHERE interaction_id = {m1}",
        "events", "event"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_tampered_cell_is_a_named_problem(
        backend: tuple[Callable[[], omnicx.History], Run, str], case: str) -> None:
    open_history, run, _ = backend
    with open_history() as history:
        _populate(history)
        ids = {name: _id(history, name) for name in ("m1", "m2", "m3")}
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
    statement, table, row = CASES[case]
    if "conversation_id" in statement:  # the target conversation must exist (FK)
        run("INSERT INTO conversations (id, contact_id, channel, account, started_at,"
            f" last_activity_at) SELECT id + 1000, contact_id, channel, account, started_at,"
            f" last_activity_at FROM conversations WHERE id = (SELECT conversation_id FROM"
            f" interactions WHERE id = {ids['m3']})")
    run(statement.format(**ids))
    with open_history() as history:
        report = history.verify()
        assert not report.ok, case
        tables = {p.table for p in report.problems}
        assert table in tables, str(report)
        if row in ids:
            assert ids[row] in {p.record_id for p in report.problems if p.table == table}
        elif row == "contact":
            assert anna.id in {p.record_id for p in report.problems if p.table == table}
        assert all(p.contact_id == anna.id for p in report.problems)
        try:
            history.timeline(anna)
        except omnicx.TamperedError as exc:
            assert "third" not in str(exc) and "anna" not in str(exc)


def test_the_forged_status_is_named_as_status(
        backend: tuple[Callable[[], omnicx.History], Run, str]) -> None:
    open_history, run, _ = backend
    with open_history() as history:
        _populate(history)
        m3 = _id(history, "m3")
    run(f"UPDATE interactions SET status = 'read', status_rank = 30 WHERE id = {m3}")
    with open_history() as history:
        (problem,) = history.verify().problems
    assert (problem.kind, problem.table, problem.record_id) == ("edited", "interactions", m3)
    assert "status" in problem.detail


def test_statuses_that_moved_honestly_verify(
        backend: tuple[Callable[[], omnicx.History], Run, str]) -> None:
    """Out-of-order statuses, a late one that ranks lower, one that waited: all explained."""
    open_history, _, _ = backend
    with open_history() as history:
        _populate(history)
        send(history, status(1, "message.delivered"))  # lower than read: ignored
        send(history, status(9, "message.read"))  # waits for m9
        send(history, event(9, text="ninth"))
        report = history.verify()
        assert report.ok, str(report)
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
        statuses = {i.external_id: i.status for i in history.timeline(anna).items}
    assert statuses == {"m1": "read", "m2": "delivered", "m3": None, "m9": "read"}


# SQLite keeps whatever type a statement writes; these cells hold what omnicx
# never writes there. verify() names them and the timeline raises TamperedError.
FOREIGN_TYPES = {
    "text in sealed": "UPDATE interactions SET sealed = 'not a ciphertext' WHERE id = {m3}",
    "text in an event's sealed": "UPDATE events SET sealed = 'x' WHERE interaction_id = {m1}",
    "text time": "UPDATE interactions SET occurred_at = 'yesterday' WHERE id = {m3}",
    "text rank": "UPDATE interactions SET status_rank = 'high' WHERE id = {m1}",
    "text chain position": "UPDATE interactions SET chain_seq = 'first' WHERE id = {m1}",
    "blob digest as text": "UPDATE interactions SET digest = 'abc' WHERE id = {m2}",
    "number in sealed": "UPDATE interactions SET sealed = 42 WHERE id = {m2}",
    "text that is not UTF-8": "UPDATE interactions SET subject = CAST(X'ff00fe' AS TEXT)"
                              " WHERE id = {m2}",
    "sealed doubled into text": "UPDATE interactions SET sealed = sealed || sealed"
                                " WHERE id = {m3}",
}


@pytest.mark.parametrize("case", sorted(FOREIGN_TYPES))
def test_a_cell_of_a_foreign_type_is_a_problem_not_a_type_error(
        tmp_path: Path, case: str) -> None:
    import sqlite3

    path = tmp_path / "h.db"
    with omnicx.open(path, key=KEY) as history:
        _populate(history)
        ids = {name: _id(history, name) for name in ("m1", "m2", "m3")}
        anna = history.contacts.find("anna@example.com")
        assert anna is not None
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(FOREIGN_TYPES[case].format(**ids))
    conn.close()
    with omnicx.open(path, key=KEY) as history:
        report = history.verify()
        assert not report.ok
        assert {p.contact_id for p in report.problems} == {anna.id}
        try:
            items: Any = history.timeline(anna).items
        except omnicx.TamperedError as exc:
            assert "second" not in str(exc) and "third" not in str(exc)
        else:
            assert len(items) == 3
        for interaction in ids.values():
            with contextlib.suppress(omnicx.TamperedError):
                history.events(interaction)


STATUSES = [None, "pending", "sent", "failed", "delivered", "received", "read", "played",
            "x-unknown"]


@settings(max_examples=500, deadline=None)
@given(origin=st.sampled_from(STATUSES), reported=st.lists(st.sampled_from(STATUSES[1:])))
def test_the_status_ingest_reaches_is_the_only_one_explained(
        origin: str | None, reported: list[str]) -> None:
    """Whatever statuses arrive in whatever order, the forward-only status the ingest
    keeps is explained by the chain, and a status it would not keep is not (bar a
    tie: two chained statuses of one rank, delivered and received, are told apart
    by order only)."""
    status, rank = origin, status_rank(origin)
    for reported_status in reported:  # as advance_status moves it
        if status_rank(reported_status) > rank:
            status, rank = reported_status, status_rank(reported_status)
    first = origin_status(origin)
    assert status_explained(status, rank, first, reported)
    for other in STATUSES:
        tie = other in reported and status_rank(other) == rank
        if other != status and not tie:
            assert not status_explained(other, status_rank(other), first, reported), other
    assert not status_explained(status, rank + 1, first, reported)
    assert not status_explained(status, str(rank), first, reported)
