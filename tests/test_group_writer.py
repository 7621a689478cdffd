"""The webhook server's group-commit writer (``omnicx._committer``).

Its thread stores one group at a time off the event loop; the requests that
arrive meanwhile become the next group; each waiting request gets its own
answer after the commit, even when its client went away or the store has a
bug; the thread ends when idle and starts again with the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import omnicx
from faulty_store import FaultyStore
from omnicx import OmnicxError, Receipt
from omnicx._committer import GroupWriter
from omnicx._group import Outcome, Prepared, prepare
from omnicx.storage import SQLiteStore, Transaction
from webchat_payloads import CHANNEL, message, signed


class SlowStore(FaultyStore):
    """Commits after ``delay`` seconds, and notes the thread each commit ran in."""

    delay = 0.0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.threads: set[int] = set()

    def atomic(self, work: Callable[[Transaction], Any]) -> Any:
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        return super().atomic(work)


def _history(tmp_path: Path) -> tuple[omnicx.History, SlowStore]:
    store = SlowStore(SQLiteStore(str(tmp_path / "h.db")))
    history = omnicx.open(store)
    store.threads.clear()  # opening wrote from this thread
    return history, store


def _request(history: omnicx.History, n: int) -> Prepared:
    body, headers = signed(message(f"m{n:03}", n))
    return prepare(history, CHANNEL, body, headers)


def _stored(history: omnicx.History) -> list[str]:
    contact = history.contacts.find("anna@example.com")
    if contact is None:
        return []
    return sorted(i.external_id for i in history.timeline(contact, limit=100).items)


def test_a_commit_runs_off_the_event_loop_and_what_arrives_meanwhile_is_one_group(
        tmp_path: Path) -> None:
    history, store = _history(tmp_path)
    store.delay = 0.3
    writer = GroupWriter(history)

    async def go() -> tuple[Outcome, list[Outcome], int]:
        first = asyncio.create_task(writer.submit(_request(history, 0)))
        await asyncio.sleep(0.05)  # its commit is under way
        rest = [asyncio.create_task(writer.submit(_request(history, n))) for n in range(1, 6)]
        ticks = 0
        while not first.done():  # the loop keeps running while the commit waits
            await asyncio.sleep(0.01)
            ticks += 1
        return await first, list(await asyncio.gather(*rest)), ticks

    first, rest, ticks = asyncio.run(go())
    assert ticks >= 5
    assert all(isinstance(o, Receipt) and o.stored == 1 for o in [first, *rest])
    assert (writer.groups, writer.requests) == (2, 6)
    assert threading.get_ident() not in store.threads
    assert _stored(history) == [f"m{n:03}" for n in range(6)]


def test_an_idle_writer_thread_ends_and_the_next_request_starts_another(
        tmp_path: Path) -> None:
    history, _ = _history(tmp_path)
    writer = GroupWriter(history, idle=0.05)

    async def go() -> tuple[Outcome, Outcome, threading.Thread | None]:
        first = await writer.submit(_request(history, 0))
        thread = writer._thread
        await asyncio.sleep(0.5)
        assert writer._thread is None and thread is not None and not thread.is_alive()
        return first, await writer.submit(_request(history, 1)), writer._thread

    first, second, again = asyncio.run(go())
    assert isinstance(first, Receipt) and isinstance(second, Receipt)
    assert writer.alive and again is not None
    assert _stored(history) == ["m000", "m001"]


def test_stop_stores_what_is_queued_then_ends_the_thread(tmp_path: Path) -> None:
    history, store = _history(tmp_path)
    store.delay = 0.05
    writer = GroupWriter(history, max_items=2)

    async def go() -> list[Outcome]:
        waiting = [asyncio.create_task(writer.submit(_request(history, n))) for n in range(5)]
        await asyncio.sleep(0)  # all five queued
        await writer.stop()
        assert all(task.done() for task in waiting) and writer._thread is None
        return [task.result() for task in waiting]

    outcomes = asyncio.run(go())
    assert all(isinstance(o, Receipt) and o.stored == 1 for o in outcomes)
    assert writer.groups == 3  # max_items 2: 2 + 2 + 1
    assert _stored(history) == [f"m{n:03}" for n in range(5)]


def test_a_request_whose_client_went_away_is_still_stored(tmp_path: Path) -> None:
    history, store = _history(tmp_path)
    store.delay = 0.1
    writer = GroupWriter(history)

    async def go() -> Outcome:
        gone = asyncio.create_task(writer.submit(_request(history, 0)))
        await asyncio.sleep(0.02)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        return await writer.submit(_request(history, 1))

    assert isinstance(asyncio.run(go()), Receipt)
    assert _stored(history) == ["m000", "m001"]


def test_one_writer_serves_one_event_loop_after_another(tmp_path: Path) -> None:
    history, _ = _history(tmp_path)
    writer = GroupWriter(history)
    for n in range(3):  # e.g. tests that call asyncio.run once per exchange
        assert isinstance(asyncio.run(writer.submit(_request(history, n))), Receipt)
    assert _stored(history) == ["m000", "m001", "m002"]


def test_a_bug_in_the_store_answers_every_waiting_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    history, _ = _history(tmp_path)
    writer = GroupWriter(history)

    def broken(*_: object) -> list[Outcome]:
        raise RuntimeError("a bug")

    monkeypatch.setattr("omnicx._committer.store_group", broken)

    async def go() -> list[Outcome]:
        return list(await asyncio.gather(*(writer.submit(_request(history, n))
                                           for n in range(3))))

    outcomes = asyncio.run(go())
    assert all(type(o) is OmnicxError and "internal error" in str(o) for o in outcomes)
    assert writer.alive
