"""The change feed under concurrent writers: a reader that resumes never misses or repeats.

Four writer processes receive their share of a set of payloads at the same
time; the payloads share contacts across processes (so the same contact is
written by several processes at once) and statuses race the messages they
are about. Meanwhile a reader tails `History.changes` in small pages,
keeping only the cursor between pages, as a CRM would. At the end:

- the reader's changes are exactly the changes committed (read again in
  one go afterwards), each once, in the same order;
- they match the history: one ``interaction.created`` per stored
  interaction, one ``contact.created`` per contact, every status change;
- the order agrees with every contact's own history: a contact's
  interactions appear in its hash chain's order, and an interaction's
  status changes follow its creation, in the order the status moved.

On PostgreSQL writers commit in parallel; a feed keyed on a sequence would
make the reader skip changes committed after a higher id was read.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import omnicx
from omnicx import Change
from omnicx.testing import WebChatPayloads

WRITERS = 4
VISITORS = 5
MESSAGES = 120  # visitor messages m0..m119
AGENT = 30  # agent messages a0..a29, each with a delivered and a read status


def _at(minutes: int) -> Any:
    import datetime as dt

    return dt.datetime(2026, 2, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def payloads() -> list[tuple[bytes, dict[str, str]]]:
    chat = WebChatPayloads()
    found = [chat.message(f"m{n}", visitor=f"v{n % VISITORS}", session=f"s{n % 3}", at=_at(n))
             for n in range(MESSAGES)]
    for k in range(AGENT):
        found.append(chat.message(f"a{k}", visitor=f"v{k % VISITORS}", sender="agent",
                                  at=_at(200 + k)))
        found.append(chat.status(f"a{k}", "delivered", at=_at(201 + k)))
        found.append(chat.status(f"a{k}", "read", at=_at(202 + k)))
    return found


def write_share(target: str, options: dict[str, Any], writer: int, start_at: float) -> int:
    """Receive every WRITERS-th payload (from ``writer`` on) in a shuffled order."""
    history = omnicx.open(target, **options)
    chat = WebChatPayloads().channel
    items = payloads()[writer::WRITERS]
    random.Random(writer).shuffle(items)
    time.sleep(max(0.0, start_at - time.time()))  # start together
    stored = 0
    for body, headers in items:
        stored += history.receive(chat, body=body, headers=headers).stored
    history.close()
    return stored


def tail(history: omnicx.History, done: threading.Event, seen: list[Change]) -> None:
    """A CRM's sync loop: pages of 7, nothing kept between pages but the cursor."""
    cursor: str | None = None
    while True:
        finished = done.is_set()  # read before the page: a final page follows the writers
        page = history.changes(after=cursor, limit=7)
        seen.extend(page.items)
        cursor = page.next_cursor
        if not page.items:
            if finished:
                return
            time.sleep(0.002)


def run(target: str, options: dict[str, Any]) -> None:
    omnicx.open(target, **options).close()  # migrate first: writers race on data
    reader = omnicx.open(target, **options)
    seen: list[Change] = []
    done = threading.Event()
    tailer = threading.Thread(target=tail, args=(reader, done, seen))
    tailer.start()
    context = multiprocessing.get_context("spawn")
    try:
        with context.Pool(WRITERS) as pool:
            start_at = time.time() + 2.0
            stored = pool.starmap(write_share, [(target, options, w, start_at)
                                                for w in range(WRITERS)])
    finally:
        done.set()
        tailer.join()
    assert sum(stored) == MESSAGES + AGENT
    with reader:
        check(reader, seen)


def check(history: omnicx.History, seen: list[Change]) -> None:
    committed = list(history.changes(limit=100_000).items)
    # Exactly the committed changes, each once, in the same order.
    assert [c.id for c in seen] == [c.id for c in committed]
    assert seen == committed
    assert len({c.id for c in seen}) == len(seen)

    # They match the history.
    by_kind: dict[str, list[Change]] = {}
    for change in seen:
        by_kind.setdefault(change.kind, []).append(change)
    contacts = list(history.contacts)
    assert len(contacts) == VISITORS
    assert sorted(c.contact_id for c in by_kind["contact.created"]) == sorted(
        c.id for c in contacts)
    stored = [i for c in contacts for i in history.timeline(c, limit=1000).items]
    assert len(stored) == MESSAGES + AGENT
    assert sorted(c.interaction_id for c in by_kind["interaction.created"]) == sorted(
        i.id for i in stored)
    statuses: dict[int, list[str]] = {}
    for change in by_kind["interaction.status_changed"]:
        assert change.interaction_id is not None
        statuses.setdefault(change.interaction_id, []).append(change.data["status"])
    agent = [i for i in stored if i.external_id.startswith("a")]
    for item in agent:
        # "read" is the last word, "delivered" shows only if it came first.
        assert statuses[item.id] in (["delivered", "read"], ["read"]), statuses[item.id]
    assert history.gaps() == []
    assert len(by_kind.get("gap.opened", [])) == len(by_kind.get("gap.closed", []))

    # The order agrees with every contact's own history.
    position = {c.interaction_id: c.id for c in by_kind["interaction.created"]}
    for change in by_kind["interaction.status_changed"]:
        assert change.id > position[change.interaction_id]
    with history.store.reading() as tx:
        chains = tx.chain_rows([c.id for c in contacts]).interactions
    for contact in contacts:
        # Row shape: id at 0, contact_id at 1, chain_seq at 13 (see ChainRows).
        mine = sorted((row[13], row[0]) for row in chains if row[1] == contact.id)
        assert [iid for _, iid in mine] == sorted(
            (iid for _, iid in mine), key=lambda iid: position[iid])


@pytest.mark.slow
def test_four_writer_processes_and_a_reader_on_sqlite(tmp_path: Path) -> None:
    run(str(tmp_path / "history.db"), {})


@pytest.mark.slow
@pytest.mark.postgres
def test_four_writer_processes_and_a_reader_on_postgres(
        postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    run(url, {"schema": schema, "max_size": 2})
