"""The chain, encryption, erasure and export behave the same on every backend.

The SQL tampering tests run on SQLite (test_integrity.py); here each backend
stores, seals, chains, erases and exports through the same ingest, and the
memory store is tampered with through its own tables.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnicx
from integrity_support import KEY, event, send, status
from omnicx.storage import SQLiteStore
from omnicx.storage._memory import MemoryStore

SECRET = "the parcel code is 31337"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[omnicx.History]:
    if request.param == "memory":
        store: omnicx.storage.Store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "h.db")
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        from omnicx.storage._postgres import PostgresStore

        store = PostgresStore(url, schema=schema)
    with omnicx.open(store, key=KEY) as history:
        yield history


def test_every_backend_chains_seals_erases_and_exports(opened: omnicx.History) -> None:
    history = opened
    send(history, status(1), event(1, text=SECRET, seq=1), event(2, text="bob",
                                                                 email="bob@example.com"))
    send(history, {"type": "message.edited", "id": "e1", "message": "m1",
                   "text": f"{SECRET}!", "at": 1_700_000_020}, event(3, seq=3))
    report = history.verify()
    assert report.ok, str(report)
    assert report.records == 5
    anna = history.contacts.find("anna@example.com")
    assert anna is not None
    items = history.timeline(anna).items
    assert [i.text for i in items] == ["hello", SECRET]
    assert [e.data["text"] for e in history.events(items[1])] == [f"{SECRET}!"]
    assert [g.reference for g in history.gaps()] == ["session:s1#2"]
    out = io.StringIO()
    history.export(anna, out)
    assert SECRET in out.getvalue()
    assert [json.loads(line)["type"] for line in out.getvalue().splitlines()].count(
        "event") == 2
    assert history.erase(anna) == 2
    assert all(i.erased and i.text is None for i in history.timeline(anna).items)
    report = history.verify()
    assert report.ok, str(report)
    assert report.records == 6


def test_memory_store_tampering_is_named() -> None:
    store = MemoryStore()
    with omnicx.open(store) as history:
        send(history, event(1), event(2), event(3))
        tables = store._tables  # behind the library's back
        tables.interactions[2][16] = "forged"
        del tables.interactions[3]
        tables.by_contact[1].discard(3)
        problems = {(p.kind, p.record_id) for p in history.verify().problems}
    assert problems == {("edited", 2), ("removed", None)}
