"""Timeline latency: a page of 50 from omnicx against the raw indexed query.

The database is filled with ``--size`` interactions (default 1,000,000)
spread over contacts of 50 interactions each, plus one customer with 2,000,
written straight into omnicx's schema with ``executemany`` (filling is not
what is measured). Then, in the same run:

- raw: the equivalent keyset query on ``interactions(contact_id, occurred_at,
  id)`` with ``sqlite3`` (``(occurred_at, id) < (?, ?)``, an index range),
  the same 51 rows fetched;
- omnicx: ``History.timeline(contact, limit=50, before=cursor)``, which also
  resolves the contact and its merged contacts and builds `Interaction`
  objects.

Both walk the same pages of the big customer's history. Target: omnicx
median <= 2x the raw median.

Run: ``python benchmarks/bench_timeline.py [--size 1000000]``
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import median_latencies, report

import omnicx
from omnicx.storage import SQLiteStore
from omnicx.storage._sql import _INTERACTION_COLUMNS, to_us

PER_CONTACT = 50
BIG = 2_000
EPOCH_US = 1_735_689_600_000_000  # 2025-01-01


def fill(path: Path, size: int) -> int:
    """Write ``size`` interactions; return the id of the customer with ``BIG`` of them."""
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(7)
    contacts = (size - BIG) // PER_CONTACT + 1
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO contacts (id, display_name, created_at) VALUES (?, ?, ?)",
                     [(c, f"Customer {c}", EPOCH_US) for c in range(1, contacts + 1)])
    conn.executemany(
        "INSERT INTO addresses (kind, value, contact_id, created_at) VALUES (?, ?, ?, ?)",
        [("email", f"customer{c}@example.com", c, EPOCH_US) for c in range(1, contacts + 1)])
    conn.executemany(
        "INSERT INTO conversations (id, contact_id, channel, account, thread_key, started_at,"
        " last_activity_at) VALUES (?, ?, 'webchat', 'bench', 'k', ?, ?)",
        [(c, c, EPOCH_US, EPOCH_US) for c in range(1, contacts + 1)])
    conn.execute("COMMIT")
    placeholders = ", ".join("?" * len(_INTERACTION_COLUMNS.split(",")))
    statement = f"INSERT INTO interactions ({_INTERACTION_COLUMNS}) VALUES ({placeholders})"
    recipients = json.dumps([["email", "agent@shop.example", "Agent"]])
    batch = []
    for n in range(1, size + 1):
        contact = 1 if n <= BIG else 2 + (n - BIG) % (contacts - 1)
        batch.append((
            n, contact, contact, "webchat", "bench", f"m{n}", "inbound" if n % 3 else "outbound",
            "message", "message", EPOCH_US + rng.randrange(0, 86_400_000_000 * 365),
            EPOCH_US, "email", f"customer{contact}@example.com", f"Customer {contact}",
            recipients, None, f"Message {n}: where is my parcel? Order #{100000 + n}.", None,
            None, None, "read" if n % 3 == 0 else None, 30 if n % 3 == 0 else -1,
            json.dumps({"seq": n}), None, None))
        if len(batch) == 50_000:
            conn.execute("BEGIN")
            conn.executemany(statement, batch)
            conn.execute("COMMIT")
            batch = []
    if batch:
        conn.execute("BEGIN")
        conn.executemany(statement, batch)
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="walks over the 40 pages")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.repeat = 3000, 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timeline.db"
        start = time.perf_counter()
        contact_id = fill(path, args.size)
        print(f"filled {args.size:,} interactions in {time.perf_counter() - start:.0f}s")

        history = omnicx.open(path)
        cursors: list[str | None] = [None]
        while True:
            page = history.timeline(contact_id, limit=50, before=cursors[-1])
            if page.next_cursor is None:
                break
            cursors.append(page.next_cursor)
        positions = [None] + [
            (item.occurred_at, item.id) for item in
            (history.timeline(contact_id, limit=50, before=c).items[-1] for c in cursors[:-1])]

        raw = sqlite3.connect(path, isolation_level=None)
        # The keyset condition as a row value: SQLite turns it into an index range
        # (contact_id = ? AND occurred_at <= ?), where the spelled-out OR scans every
        # newer row of the contact first, so deep pages would cost more than the first.
        # LIMIT 51, as omnicx fetches one row more than the page to know if there is a next.
        raw_sql = (f"SELECT {_INTERACTION_COLUMNS} FROM interactions WHERE contact_id = ?"
                   " AND (occurred_at, id) < (?, ?)"
                   " ORDER BY occurred_at DESC, id DESC LIMIT 51")
        raw_first = (f"SELECT {_INTERACTION_COLUMNS} FROM interactions WHERE contact_id = ?"
                     " ORDER BY occurred_at DESC, id DESC LIMIT 51")
        epoch = omnicx.Interaction.__attrs_attrs__  # noqa: F841 - keep attrs warm

        def raw_walk() -> None:
            for position in positions:
                if position is None:
                    raw.execute(raw_first, (contact_id,)).fetchall()
                else:
                    raw.execute(raw_sql, (contact_id, to_us(position[0]), position[1])).fetchall()

        def ours_walk() -> None:
            for cursor in cursors:
                history.timeline(contact_id, limit=50, before=cursor)

        pages = len(cursors)
        (raw_median, raw_p99), (our_median, our_p99) = median_latencies(
            [raw_walk, ours_walk], args.repeat * 4)
        print(f"{pages} pages of 50 from a customer with {BIG:,} of {args.size:,} interactions")
        report("timeline page of 50, median (us)", our_median / pages * 1e6,
               raw_median / pages * 1e6, "us", False, "<= 2x")
        report("timeline page of 50, p99 walk (us)", our_p99 / pages * 1e6,
               raw_p99 / pages * 1e6, "us", False, "-")
        history.close()


if __name__ == "__main__":
    main()
