"""How many statements a durable receive runs, counted by SQLite itself.

A receive of a message from a known contact stores its history in ten
statements: BEGIN, the id cache check, the raw archive, the lookup of
external ids (open gaps come along), the owners (chain heads come along),
the threads, the interaction, the conversation's last activity, the chain
head, COMMIT. The gaps UPDATE runs only when the message fills an open gap,
and the head is not read apart from its owner. The change feed
(`History.changes`) and the search index add statements of their own, which
these tests leave to those features' tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnicx
from omnicx.storage import SQLiteStore
from omnicx.testing import WebChatPayloads


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[omnicx.History, list[str]]]:
    store = SQLiteStore(tmp_path / "history.db")
    history = omnicx.open(store)
    statements: list[str] = []
    conn: sqlite3.Connection = store.db.conn  # type: ignore[assignment]
    conn.set_trace_callback(statements.append)
    yield history, statements
    conn.set_trace_callback(None)
    history.close()


# Other features' statements: the change feed's clock and row, the search index
# (and the statements SQLite's FTS5 runs inside it, traced with a "--" prefix).
_OTHERS = ("UPDATE change_clock", "INSERT INTO changes", "INSERT OR REPLACE INTO search_index",
           "-- ")


def _history_statements(statements: list[str]) -> list[str]:
    """The statements that store the history itself (other features' aside)."""
    return [s for s in statements if not s.startswith(_OTHERS)]


def _receive(history: omnicx.History, payload: tuple[bytes, dict[str, str]]) -> None:
    history.receive(WebChatPayloads().channel, body=payload[0], headers=payload[1])


def test_a_message_from_a_known_contact_is_ten_statements(
        traced: tuple[omnicx.History, list[str]]) -> None:
    history, statements = traced
    chat = WebChatPayloads()
    _receive(history, chat.message("m1"))
    statements.clear()
    _receive(history, chat.message("m2"))
    assert len(_history_statements(statements)) == 10, "\n".join(statements)
    assert not any(s.startswith("UPDATE gaps") for s in statements)
    assert not any(s.startswith("SELECT id, chain_head") for s in statements)


def test_the_gaps_update_runs_when_a_gap_is_filled(
        traced: tuple[omnicx.History, list[str]]) -> None:
    history, statements = traced
    chat = WebChatPayloads()
    _receive(history, chat.status("a1", "read"))  # before its message: a gap
    assert [g.reference for g in history.gaps()] == ["a1"]
    statements.clear()
    _receive(history, chat.message("a1", sender="agent"))
    assert sum(s.startswith("UPDATE gaps") for s in statements) == 1
    assert history.gaps() == []
    (contact,) = history.contacts
    (item,) = history.timeline(contact).items
    assert item.status == omnicx.Status.READ  # the waiting status was attached
