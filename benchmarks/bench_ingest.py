"""Ingest throughput: omnicx against raw sqlite3 writing the very same rows.

Two measurements, each with its baseline in the same run:

- bulk: ``History.receive_many`` (parse, verify, dedupe, identity, threading,
  one transaction per 500 payloads) against ``executemany`` of the rows
  omnicx produced (raw payloads, contacts, addresses, conversations,
  interactions) into an identical schema, 500 rows per table per commit.
  Target: >= 0.5x.
- durable: one ``History.receive`` per payload, each committed with
  ``synchronous=FULL`` before it returns, against inserting the same rows
  and committing once per payload. Target: >= 0.8x.

Each also prints the ratio against a ceiling that does the work omnicx
cannot skip besides the raw inserts: checking each signature and parsing
each body (raw inserts + verify + parse; issue #15 target for bulk: >= 0.5x),
and the statements SQLite ran per payload, counted by its trace callback on
the store's own connection (in a short extra run after the timed one, so
that counting costs the timing nothing).

Run: ``python benchmarks/bench_ingest.py [--bulk 50000] [--durable 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import CHANNEL, rate, report, timed, webchat_payloads

import omnicx
from omnicx.storage import SQLiteStore

Payloads = list[tuple[bytes, dict[str, str]]]

TABLES = ("raw_payloads", "contacts", "addresses", "conversations", "interactions")


def _rows(db: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    conn = sqlite3.connect(db)
    out = {}
    for table in TABLES:
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
        out[table] = ([d[0] for d in cursor.description], cursor.fetchall())
    conn.close()
    return out


def _empty_copy(path: Path) -> sqlite3.Connection:
    SQLiteStore(path).close()  # same schema, indexes and pragmas as omnicx
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _insert(conn: sqlite3.Connection, table: str, columns: list[str],
            rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
                     f" ({', '.join('?' * len(columns))})", rows)


def bulk(tmp: Path, count: int, repeat: int) -> None:
    """Bulk ingest against raw executemany and the ceiling; ``repeat`` rounds whose
    three parts take turns in a rotating order, so that a machine whose speed
    drifts slows them alike. A first, untimed ingest makes the rows that raw
    inserts, and counts the statements."""
    payloads = list(webchat_payloads(count))
    first = tmp / "bulk-rows.db"
    history = omnicx.open(first)
    history.receive_many(CHANNEL, payloads, batch_size=500)
    extra = list(webchat_payloads(min(count, 2000), start=count, contacts=min(count, 1000)))
    per_payload = _statements(
        history, lambda: history.receive_many(CHANNEL, extra, batch_size=500)) / len(extra)
    history.close()
    rows = _rows(first)
    ours_times: list[float] = []
    raw_times: list[float] = []
    floors: list[float] = []

    def ours(run: int) -> None:
        with omnicx.open(tmp / f"bulk-{run}.db") as history:
            ours_times.append(timed(
                lambda: history.receive_many(CHANNEL, payloads, batch_size=500)))

    def raw(run: int) -> None:
        conn = _empty_copy(tmp / f"bulk-raw-{run}.db")

        def insert() -> None:
            for table in TABLES:
                columns, data = rows[table]
                for start in range(0, len(data), 500):
                    conn.execute("BEGIN")
                    _insert(conn, table, columns, data[start:start + 500])
                    conn.execute("COMMIT")

        raw_times.append(timed(insert))
        conn.close()

    def floor(run: int) -> None:
        floors.append(_verify_and_parse(payloads))

    parts = [ours, raw, floor]
    for run in range(repeat):
        for part in parts[run % 3:] + parts[:run % 3]:
            part(run)
    ratios = sorted((r + f) / o for o, r, f in zip(ours_times, raw_times, floors, strict=True))
    seconds, baseline, checking = (statistics.median(x) for x in (ours_times, raw_times, floors))
    print(f"bulk ingest of {count:,} payloads (median of {repeat}):"
          f" omnicx {rate(count, seconds)}, raw executemany {rate(count, baseline)}")
    print(f"  {per_payload:.3f} statement executions per payload (batches of 500;"
          " executemany runs one per row)")
    report("bulk ingest (payloads/s)", count / seconds, count / baseline, "/s", True, ">= 0.5x")
    print(f"  ceiling: raw inserts + verify + parse: {checking / count * 1e6:.1f} us/payload"
          f" to verify and parse, {baseline / count * 1e6:.1f} us/payload raw,"
          f" {seconds / count * 1e6:.1f} us/payload omnicx")
    report("bulk ingest vs the ceiling (payloads/s)", count / seconds,
           count / (baseline + checking), "/s", True, ">= 0.5x")
    print(f"  omnicx vs the ceiling, each round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    _budget(tmp / "bulk-budget.db", payloads, baseline, checking)


def durable(tmp: Path, count: int) -> None:
    payloads = list(webchat_payloads(count))
    ours_path = tmp / "durable.db"
    history = omnicx.open(ours_path)

    def ours() -> None:
        for body, headers in payloads:
            history.receive(CHANNEL, body=body, headers=headers)

    seconds = timed(ours)
    # Known visitors (the common case): a visitor of the timed payloads.
    extra = list(webchat_payloads(200, start=count, contacts=min(count, 1000)))

    def more() -> None:
        for body, headers in extra:
            history.receive(CHANNEL, body=body, headers=headers)

    print(f"  {_statements(history, more) / len(extra):.2f} statement executions per payload"
          " (one transaction each)")
    history.close()
    rows = _rows(ours_path)
    # Group every row under the payload that created it, then commit per payload.
    per_payload: dict[int, list[tuple[str, list[str], tuple[Any, ...]]]] = defaultdict(list)
    columns = {t: rows[t][0] for t in TABLES}
    interactions = rows["interactions"][1]
    raw_col = columns["interactions"].index("raw_id")
    contact_col = columns["interactions"].index("contact_id")
    conv_col = columns["interactions"].index("conversation_id")
    first_raw_of_contact: dict[int, int] = {}
    first_raw_of_conv: dict[int, int] = {}
    for row in interactions:
        first_raw_of_contact.setdefault(row[contact_col], row[raw_col])
        first_raw_of_conv.setdefault(row[conv_col], row[raw_col])
    for row in rows["raw_payloads"][1]:
        per_payload[row[0]].append(("raw_payloads", columns["raw_payloads"], row))
    for row in rows["contacts"][1]:
        per_payload[first_raw_of_contact[row[0]]].append(("contacts", columns["contacts"], row))
    contact_idx = columns["addresses"].index("contact_id")
    for row in rows["addresses"][1]:
        per_payload[first_raw_of_contact[row[contact_idx]]].append(
            ("addresses", columns["addresses"], row))
    for row in rows["conversations"][1]:
        per_payload[first_raw_of_conv[row[0]]].append(
            ("conversations", columns["conversations"], row))
    for row in interactions:
        per_payload[row[raw_col]].append(("interactions", columns["interactions"], row))
    conn = _empty_copy(tmp / "durable-raw.db")

    def raw() -> None:
        for raw_id in sorted(per_payload):
            conn.execute("BEGIN")
            for table, cols, row in per_payload[raw_id]:
                conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES"
                             f" ({', '.join('?' * len(cols))})", row)
            conn.execute("COMMIT")

    baseline = timed(raw)
    print(f"durable ingest of {count:,} payloads, one commit each: omnicx {rate(count, seconds)},"
          f" raw one-commit-per-payload {rate(count, baseline)}")
    report("durable ingest (payloads/s)", count / seconds, count / baseline, "/s", True,
           ">= 0.8x")
    _ceiling("durable", payloads, baseline, seconds, "-")


class _TimedCursor:
    """A cursor that adds the seconds each statement (and fetch) takes to ``spent``."""

    def __init__(self, cursor: sqlite3.Cursor, spent: Counter[str]) -> None:
        self._cursor, self._spent = cursor, spent

    def _timed(self, what: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return call()
        finally:
            self._spent[what] += time.perf_counter() - start

    def execute(self, statement: str, params: Any = ()) -> Any:
        self._timed(_kind(statement), lambda: self._cursor.execute(statement, params))
        return self

    def executemany(self, statement: str, rows: Any) -> Any:
        self._timed(_kind(statement), lambda: self._cursor.executemany(statement, rows))
        return self

    def fetchall(self) -> Any:  # SQLite runs a query while its rows are fetched
        return self._timed("lookups", self._cursor.fetchall)

    def fetchone(self) -> Any:
        return self._timed("lookups", self._cursor.fetchone)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _TimedConnection:
    """The store's connection, handing out `_TimedCursor`s and timing its own statements
    (``BEGIN``, ``COMMIT``)."""

    def __init__(self, conn: sqlite3.Connection, spent: Counter[str]) -> None:
        self._conn, self._spent = conn, spent

    def cursor(self) -> _TimedCursor:
        return _TimedCursor(self._conn.cursor(), self._spent)

    def execute(self, statement: str, params: Any = ()) -> Any:
        start = time.perf_counter()
        try:
            return self._conn.execute(statement, params)
        finally:
            self._spent["begin, commit"] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


# Tables raw writes too, and what only omnicx writes (the change feed, the search
# index, chain heads, conversations' last activity, the id counters).
_RAW_TABLES = {f"INSERT INTO {t} " for t in TABLES}


def _kind(statement: str) -> str:
    if statement.startswith("SELECT"):
        return "lookups"
    if any(statement.startswith(t) for t in _RAW_TABLES):
        return "inserts raw makes too"
    return "writes only omnicx makes"


def _budget(path: Path, payloads: Payloads, raw: float, checking: float) -> None:
    """Where a bulk ingest's time goes: one more ingest (of a new file, as the timed
    ones) with every statement of the store timed, and the garbage collector.
    What is left is omnicx's own Python, which is what keeps it from the ceiling."""
    spent: Counter[str] = Counter()
    collecting: list[float] = []

    def collector(phase: str, _: dict[str, int]) -> None:
        collecting.append(time.perf_counter())

    count = len(payloads)
    with omnicx.open(path) as history:
        store = history.store
        while not isinstance(store, SQLiteStore):  # through the feed's and the vault's wrappers
            store = store.inner  # type: ignore[attr-defined]
        store._conn = _TimedConnection(store._conn, spent)  # type: ignore[assignment]
        gc.callbacks.append(collector)
        try:
            total = timed(lambda: history.receive_many(CHANNEL, payloads, batch_size=500))
        finally:
            gc.callbacks.remove(collector)
        store._conn = store._conn._conn  # type: ignore[attr-defined]
    spent["garbage collector"] = sum(collecting[1::2]) - sum(collecting[::2])
    spent["verify + parse (as the ceiling)"] = checking
    spent["omnicx's own Python (the rest)"] = total - sum(spent.values())
    print(f"  where omnicx's {total / count * 1e6:.0f} us a payload go (one more run):")
    for what, seconds in spent.most_common():
        print(f"    {seconds / count * 1e6:6.1f} us  {what}")
    floor = total - spent["omnicx's own Python (the rest)"] - spent["garbage collector"]
    print(f"  without any Python of its own (and no garbage collection) omnicx would reach"
          f" {(raw + checking) / floor:.2f}x of the ceiling")


def _statements(history: omnicx.History, run: Callable[[], object]) -> int:
    """Statements SQLite runs for ``run``, counted on the store's own connection."""
    conn = history.store.db.conn  # type: ignore[attr-defined]
    seen = 0

    def count(_: str) -> None:
        nonlocal seen
        seen += 1

    conn.set_trace_callback(count)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return seen


def _verify_and_parse(payloads: Payloads) -> float:
    """Seconds to check every signature and parse every body: work no ingest can skip."""
    def check_and_decode() -> None:
        for body, headers in payloads:
            CHANNEL.verify(body, headers)
            CHANNEL.parse(body, headers)

    return timed(check_and_decode)


def _ceiling(name: str, payloads: Payloads, baseline: float, seconds: float,
             target: str) -> None:
    """omnicx against the ceiling: raw inserts plus checking and decoding each payload.

    The raw baseline is handed finished rows; omnicx must at least verify each
    signature and decode each body before it can build them, so raw inserts +
    verify + parse is the speed no ingest can beat.
    """
    floor = _verify_and_parse(payloads)
    count = len(payloads)
    print(f"  ceiling: raw inserts + verify + parse: {floor / count * 1e6:.1f} us/payload"
          f" to verify and parse, {baseline / count * 1e6:.1f} us/payload raw,"
          f" {seconds / count * 1e6:.1f} us/payload omnicx")
    report(f"{name} ingest vs the ceiling (payloads/s)", count / seconds,
           count / (baseline + floor), "/s", True, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--durable", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="bulk rounds, taking turns")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.bulk, args.durable, args.repeat = 300, 30, 1
    with tempfile.TemporaryDirectory() as tmp:
        bulk(Path(tmp), args.bulk, args.repeat)
        durable(Path(tmp), args.durable)


if __name__ == "__main__":
    main()
