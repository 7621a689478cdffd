"""Large payloads: a webhook with 100,000 events is stored whole, on every backend.

PostgreSQL once took an advisory lock per external id, and a payload with
about 12,000 events ran out of lock table space on every retry; it now
locks buckets of names past `omnicx.storage._sql.FINE_LOCKS`. The tests
here check both sides of that: the big payload is stored (and verifies),
and a writer locking buckets still excludes a writer of one of its names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import omnicx
from omnicx.storage import MemoryStore, Store, Transaction
from omnicx.storage._sql import FINE_LOCKS
from omnicx.testing import WebChatPayloads

MESSAGES = 90_900
READS = MESSAGES // 10  # a "read" status for every tenth message
GHOSTS = 10  # statuses for messages that never came: open gaps
EVENTS = MESSAGES + READS + GHOSTS  # 100,000
VISITORS = 500


def _backends() -> list[Any]:
    return ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backends())
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    if request.param == "memory":
        yield MemoryStore
    elif request.param == "sqlite":
        from omnicx.storage import SQLiteStore

        yield lambda: SQLiteStore(tmp_path / "history.db")
    else:
        from omnicx.storage import PostgresStore

        url, schema = request.getfixturevalue("postgres_schema")
        yield lambda: PostgresStore(url, schema=schema, max_size=4)


def _big_payload(chat: WebChatPayloads) -> tuple[bytes, dict[str, str]]:
    """100,000 events: messages of 500 visitors, a status for every tenth, and
    statuses for ten messages that never came (open gaps)."""
    events: list[dict[str, Any]] = []
    for n in range(MESSAGES):
        events.append(chat.message_event(f"m{n}", visitor=f"v{n % VISITORS}",
                                         session=f"s{n % VISITORS}",
                                         sender="agent" if n % 10 == 0 else "visitor"))
    for n in range(0, MESSAGES, 10):
        events.append({"type": "message.read", "id": f"read:m{n}", "message": f"m{n}",
                       "at": "2026-01-05T10:00:00+00:00"})
    for n in range(GHOSTS):
        events.append({"type": "message.delivered", "id": f"delivered:ghost{n}",
                       "message": f"ghost{n}", "at": "2026-01-05T10:00:00+00:00"})
    assert len(events) == EVENTS == 100_000
    return chat.signed(events)


@pytest.mark.slow
def test_a_payload_of_100000_events_is_stored_whole(open_store: Callable[[], Store]) -> None:
    chat = WebChatPayloads()
    body, headers = _big_payload(chat)
    history = omnicx.open(open_store())
    try:
        receipt = history.receive(chat.channel, body=body, headers=headers)
        assert (receipt.stored, receipt.updates) == (MESSAGES, READS + GHOSTS)
        assert receipt.gaps_opened == GHOSTS == len(history.gaps())
        again = history.receive(chat.channel, body=body, headers=headers)
        assert (again.stored, again.duplicates) == (0, EVENTS)
        assert len(list(history.contacts)) == VISITORS
        report = history.verify()
        assert report.ok and report.records == MESSAGES + READS, str(report)
    finally:
        history.close()


@pytest.mark.postgres
def test_a_writer_of_many_names_still_excludes_a_writer_of_one(
        postgres_schema: tuple[str, str]) -> None:
    """Bucket locks (past FINE_LOCKS names) and name locks exclude each other."""
    from omnicx.storage import PostgresStore

    url, schema = postgres_schema
    big, small = (PostgresStore(url, schema=schema, max_size=2) for _ in range(2))
    holding, release = threading.Event(), threading.Event()
    names = [f"x{n}" for n in range(FINE_LOCKS * 4)]
    locks: list[int] = []

    def many(tx: Transaction) -> None:
        tx.interaction_refs("webchat", "site", names)  # locks buckets of names
        locks.append(_advisory_locks_held(tx))
        holding.set()
        release.wait(10)

    def one(tx: Transaction) -> float:
        tx.interaction_refs("webchat", "site", [names[-1]])  # one name, in SHARE'd bucket
        return time.monotonic()

    try:
        worker = threading.Thread(target=big.atomic, args=(many,))
        worker.start()
        assert holding.wait(10)
        finished: list[float] = []
        other = threading.Thread(target=lambda: finished.append(small.atomic(one)))
        other.start()
        time.sleep(0.5)
        assert not finished  # waits for the bucket holder
        released_at = time.monotonic()
        release.set()
        worker.join(10)
        other.join(10)
        assert finished and finished[0] >= released_at
        assert locks and locks[0] <= 256  # not one per name: the lock table stays small
    finally:
        release.set()
        big.close()
        small.close()


def _advisory_locks_held(tx: Transaction) -> int:
    cursor = tx._cursor  # type: ignore[attr-defined]
    (count,) = cursor.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND pid = pg_backend_pid()").fetchone()
    return int(count)
