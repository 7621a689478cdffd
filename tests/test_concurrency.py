"""Exactly once under concurrency: many writers, overlapping redeliveries, one history.

Every worker (a process, or a thread of a process) receives every payload
of the same set, in its own order, at the same time as the others. The set
overlaps on purpose: each chat payload repeats the previous payload's second
message, and statuses race the messages they are about. At the end every
interaction is stored exactly once, every status is applied, every gap
opened by a status that came first is closed, the receipts add up, and no
worker saw an error: locks, serialization failures and unique violations
are retried inside the library.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import pytest

import omnicx
from omnicx.storage._schema import SCHEMA_VERSION
from omnicx.testing import WebChatPayloads

CHAT_PAYLOADS = 30  # payload k carries visitor messages m{k} and m{k+1}
AGENT_MESSAGES = 10  # a{k}, each with a "delivered" and a "read" status payload
VISITORS = 4

MESSAGES = CHAT_PAYLOADS + 1 + AGENT_MESSAGES
STATUSES = 2 * AGENT_MESSAGES
MESSAGE_EVENTS = 2 * CHAT_PAYLOADS + AGENT_MESSAGES  # per full delivery round
STATUS_EVENTS = STATUSES


def payloads() -> list[tuple[bytes, dict[str, str]]]:
    chat = WebChatPayloads()

    def message(n: int) -> dict[str, Any]:
        return chat.message_event(f"m{n}", visitor=f"v{n % VISITORS}", session=f"s{n % 3}",
                                  at=_at(n))

    found = [chat.signed([message(k), message(k + 1)]) for k in range(CHAT_PAYLOADS)]
    for k in range(AGENT_MESSAGES):
        found.append(chat.message(f"a{k}", visitor=f"v{k % VISITORS}", sender="agent",
                                  at=_at(100 + k)))
        found.append(chat.status(f"a{k}", "delivered", at=_at(101 + k)))
        found.append(chat.status(f"a{k}", "read", at=_at(102 + k)))
    return found


def _at(minutes: int) -> Any:
    import datetime as dt

    return dt.datetime(2026, 2, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def deliver_all(target: str, options: dict[str, Any], seed: int,
                threads: int) -> tuple[int, int, int, list[str]]:
    """Open the history, deliver every payload from ``threads`` threads; add up receipts."""
    history = omnicx.open(target, **options)
    chat = WebChatPayloads().channel
    items = payloads()
    totals = [0, 0, 0]
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def run(thread_seed: int) -> None:
        order = list(range(len(items)))
        random.Random(thread_seed).shuffle(order)
        start.wait()
        for index in order:
            body, headers = items[index]
            try:
                receipt = history.receive(chat, body=body, headers=headers)
            except Exception as exc:  # any error reaching the caller fails the test
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                totals[0] += receipt.stored
                totals[1] += receipt.duplicates
                totals[2] += receipt.updates

    workers = [threading.Thread(target=run, args=(seed * 100 + n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    history.close()
    return totals[0], totals[1], totals[2], errors


def run_processes(target: str, options: dict[str, Any], processes: int,
                  threads: int) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.starmap(deliver_all, [(target, options, seed, threads)
                                             for seed in range(processes)])
    workers = processes * threads
    assert [e for *_, errors in results for e in errors] == []
    stored = sum(r[0] for r in results)
    duplicates = sum(r[1] for r in results)
    updates = sum(r[2] for r in results)
    assert stored == MESSAGES
    assert updates == STATUSES
    assert stored + duplicates + updates == workers * (MESSAGE_EVENTS + STATUS_EVENTS)
    check_history(omnicx.open(target, **options))


def check_history(history: omnicx.History) -> None:
    with history:
        contacts = list(history.contacts)
        assert len(contacts) == VISITORS
        stored = [i for c in contacts for i in history.timeline(c, limit=1000).items]
        expected = {f"m{n}" for n in range(CHAT_PAYLOADS + 1)}
        expected |= {f"a{k}" for k in range(AGENT_MESSAGES)}
        assert sorted(i.external_id for i in stored) == sorted(expected)
        for item in stored:
            if item.external_id.startswith("a"):
                assert item.status == omnicx.Status.READ, item
                assert len(history.statuses(item)) == 2
        assert history.gaps() == []


@pytest.mark.slow
def test_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    run_processes(str(tmp_path / "history.db"), {}, processes=4, threads=1)


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_and_threads_share_one_postgres_schema(
        postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    # Create the schema first, so the workers race on data, not on migrations
    # (concurrent first opens are covered below).
    omnicx.open(url, schema=schema).close()
    run_processes(url, {"schema": schema, "max_size": 4}, processes=3, threads=4)


@pytest.mark.postgres
def test_concurrent_first_opens_migrate_once(postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        start.wait()
        try:
            omnicx.open(url, schema=schema).close()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=open_it) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    from omnicx.storage import PostgresStore

    store = PostgresStore(url, schema=schema)
    try:
        assert store.schema_version() == SCHEMA_VERSION
    finally:
        store.close()
