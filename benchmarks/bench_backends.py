"""Backends at scale: omnicx on SQLite and PostgreSQL beside raw sqlite3 / raw psycopg.

For each backend and each size (interactions stored), in the same run:

- ingest with ``--writers`` concurrent writer processes: omnicx
  ``History.receive_many`` (verify, parse, dedupe, identity, threading, one
  transaction per ``--batch`` payloads) against raw inserts of the very rows
  omnicx produced (raw payloads, contacts, addresses, conversations,
  interactions) into an identical schema, the same number of writers, the
  same rows per transaction. Writers are partitioned by contact, as a queue
  consumer group would be. Target: omnicx >= 0.3x the raw rate.
- timeline latency: ``History.timeline(contact, limit=50)`` against the raw
  indexed query it needs (``WHERE contact_id = ? ORDER BY occurred_at DESC,
  id DESC LIMIT 51``), interleaved in rotating order on random contacts,
  with a control (the raw query on a second connection) that shows the
  method's own bias. Target: p50 <= 2x the raw query, and flat as the table
  grows (every contact has ~200 interactions at every size, so the page is
  always full).

Run: ``python benchmarks/bench_backends.py [--sizes 10000,100000]
[--backends sqlite,postgres] [--writers 4]``; ``--sizes 10000,100000,1000000``
for the full note (about 15 minutes on a 2-core machine). PostgreSQL comes
from ``OMNICX_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each run uses schemas of its own and drops them at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import CHANNEL
from _common import webchat_payload as payload

import omnicx

PER_CONTACT = 200
TABLES = ("raw_payloads", "contacts", "addresses", "conversations", "interactions")
POSTGRES_URL = os.environ.get("OMNICX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


# -- the two backends ----------------------------------------------------------------------
class SQLiteBackend:
    """omnicx and the raw baseline in two SQLite files of a temporary directory."""

    name, mark = "sqlite", "?"

    def __init__(self, tmp: Path, size: int) -> None:
        self.ours = tmp / f"omnicx-{size}.db"
        self.raw = tmp / f"raw-{size}.db"

    def omnicx_target(self) -> tuple[str, dict[str, Any]]:
        return str(self.ours), {}

    def create_raw_schema(self) -> None:
        from omnicx.storage import SQLiteStore

        SQLiteStore(self.raw).close()  # same schema, indexes and pragmas as omnicx

    def raw_connect(self, which: str) -> Any:
        conn = sqlite3.connect(self.ours if which == "ours" else self.raw,
                               isolation_level=None, timeout=120)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def drop(self) -> None:
        """The temporary directory goes away by itself."""


class PostgresBackend:
    """omnicx and the raw baseline in two fresh schemas of the test database."""

    name, mark = "postgres", "%s"

    def __init__(self, size: int) -> None:
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}_{size}"
        self.ours, self.raw = f"bench_{tag}", f"bench_raw_{tag}"

    def omnicx_target(self) -> tuple[str, dict[str, Any]]:
        return POSTGRES_URL, {"schema": self.ours, "max_size": 2}

    def create_raw_schema(self) -> None:
        from omnicx.storage import PostgresStore

        PostgresStore(POSTGRES_URL, schema=self.raw).close()

    def raw_connect(self, which: str) -> Any:
        import psycopg

        conn = psycopg.connect(POSTGRES_URL, autocommit=True)
        conn.execute(f"SET search_path TO {self.ours if which == 'ours' else self.raw}")
        return conn

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def analyze(self) -> None:
        # What autovacuum does after a load on a production server (it is on by
        # default; this machine's server runs with it off). Without statistics
        # the planner may scan `contacts` for a contact's merged members.
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in (self.ours, self.raw):
                for table in ("contacts", "addresses", "conversations", "interactions"):
                    conn.execute(f"ANALYZE {schema}.{table}")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for schema in (self.ours, self.raw):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


Backend = SQLiteBackend | PostgresBackend


# -- ingest -----------------------------------------------------------------------------------
def omnicx_writer(backend: Backend, size: int, writers: int, w: int, batch: int,
                  ready: Any) -> None:
    contacts = size // PER_CONTACT
    mine = [payload(n, contacts) for n in range(size) if (n % contacts) % writers == w]
    target, options = backend.omnicx_target()
    history = omnicx.open(target, **options)
    ready.wait()
    history.receive_many(CHANNEL, mine, batch_size=batch)
    history.close()


def raw_writer(backend: Backend, writers: int, w: int, batch: int, ready: Any) -> None:
    source = backend.raw_connect("ours")
    m = backend.mark

    def select(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = source.execute(sql)  # no parameters: a literal % stays as it is
        return [d[0] for d in cursor.description], list(cursor.fetchall())

    share = f"% {writers} = {w}"
    rows = {
        "interactions": select(f"SELECT * FROM interactions WHERE contact_id {share} ORDER BY id"),
        "contacts": select(f"SELECT * FROM contacts WHERE id {share}"),
        "addresses": select(f"SELECT * FROM addresses WHERE contact_id {share}"),
        "conversations": select(f"SELECT * FROM conversations WHERE contact_id {share}"),
        "raw_payloads": select(
            "SELECT r.* FROM raw_payloads r JOIN interactions i ON i.raw_id = r.id"
            f" WHERE i.contact_id {share}"),
    }
    source.close()
    columns = {table: cols for table, (cols, _) in rows.items()}
    by_key: dict[str, dict[Any, list[tuple[Any, ...]]]] = {}
    for table, key in (("raw_payloads", "id"), ("contacts", "id"),
                       ("addresses", "contact_id"), ("conversations", "id")):
        index = columns[table].index(key)
        grouped: dict[Any, list[tuple[Any, ...]]] = {}
        for row in rows[table][1]:
            grouped.setdefault(row[index], []).append(row)
        by_key[table] = grouped
    icols = columns["interactions"]
    raw_at, contact_at, conv_at = (icols.index(c) for c in ("raw_id", "contact_id",
                                                              "conversation_id"))
    # The rows each transaction writes, in foreign-key order, as omnicx wrote them.
    plan: list[list[tuple[str, list[tuple[Any, ...]]]]] = []
    seen_contacts: set[Any] = set()
    seen_convs: set[Any] = set()
    interactions = rows["interactions"][1]
    for start in range(0, len(interactions), batch):
        chunk = interactions[start:start + batch]
        step: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        for row in chunk:
            step["raw_payloads"] += by_key["raw_payloads"].get(row[raw_at], [])
            if row[contact_at] not in seen_contacts:
                seen_contacts.add(row[contact_at])
                step["contacts"] += by_key["contacts"][row[contact_at]]
                step["addresses"] += by_key["addresses"].get(row[contact_at], [])
            if row[conv_at] not in seen_convs:
                seen_convs.add(row[conv_at])
                step["conversations"] += by_key["conversations"][row[conv_at]]
            step["interactions"].append(row)
        plan.append([(t, step[t]) for t in TABLES if step[t]])
    statements = {
        t: f"INSERT INTO {t} ({', '.join(columns[t])}) VALUES"
           f" ({', '.join([m] * len(columns[t]))})" for t in TABLES}
    conn = backend.raw_connect("raw")
    ready.wait()
    for step in plan:
        backend.begin(conn)
        cursor = conn.cursor()
        for table, data in step:
            cursor.executemany(statements[table], data)
        conn.execute("COMMIT")
    conn.close()


def run_writers(target: Callable[..., None], args: list[tuple[Any, ...]]) -> float:
    """Start one process per args tuple; time from when all are ready until all are done."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(args) + 1)
    processes = [context.Process(target=target, args=(*a, ready)) for a in args]
    for process in processes:
        process.start()
    ready.wait()
    start = time.perf_counter()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a writer failed with exit code {process.exitcode}")
    return time.perf_counter() - start


# -- timeline ---------------------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def timelines(backend: Backend, queries: int) -> dict[str, list[float]]:
    """Latencies of omnicx's page, the raw query, and the raw query on a second connection.

    Whoever reads a contact first pulls its rows into the cache (at 1M rows the
    table outgrows PostgreSQL's default shared_buffers), and the next reader
    finds them there; so the order rotates, each taking every place equally
    often. The control, the very raw query on a connection of its own, shows
    what is left of that bias: its ratio to raw should be 1.00x.
    """
    target, options = backend.omnicx_target()
    history = omnicx.open(target, **options)
    raw, control = backend.raw_connect("ours"), backend.raw_connect("ours")
    m = backend.mark
    contact_ids = [r[0] for r in raw.execute("SELECT id FROM contacts").fetchall()]
    columns = (
        "id, contact_id, conversation_id, channel, account, external_id, direction, kind,"
        " message_type, occurred_at, received_at, sender_kind, sender_value, sender_name,"
        " recipients, subject, text, html, attachments, reply_to, status, status_rank, data,"
        " raw_id, erased_at")
    sql = (f"SELECT {columns} FROM interactions WHERE contact_id = {m}"
           f" ORDER BY occurred_at DESC, id DESC LIMIT {m}")
    readers: dict[str, Callable[[int], Any]] = {
        "omnicx": lambda contact: history.timeline(contact, limit=50).items,
        "raw": lambda contact: raw.execute(sql, (contact, 51)).fetchall(),
        "control": lambda contact: control.execute(sql, (contact, 51)).fetchall(),
    }
    order = list(readers)
    samples: dict[str, list[float]] = {name: [] for name in readers}
    rng = random.Random(7)
    for n in range(queries + 51):
        contact = rng.choice(contact_ids)
        sizes = set()
        for name in order[n % 3:] + order[:n % 3]:
            start = time.perf_counter()
            sizes.add(min(50, len(readers[name](contact))))
            elapsed = time.perf_counter() - start
            if n >= 51:  # the first ones warm caches and prepared statements
                samples[name].append(elapsed)
        assert len(sizes) == 1, sizes
    history.close()
    raw.close()
    control.close()
    return samples


# -- driver -----------------------------------------------------------------------------------
def bench(backend: Backend, size: int, writers: int, batch: int, queries: int) -> dict[str, float]:
    target, options = backend.omnicx_target()
    omnicx.open(target, **options).close()  # migrate before the clock starts
    backend.create_raw_schema()
    ours = run_writers(omnicx_writer, [(backend, size, writers, w, batch)
                                       for w in range(writers)])
    raw = run_writers(raw_writer, [(backend, writers, w, batch) for w in range(writers)])
    if isinstance(backend, PostgresBackend):
        backend.analyze()
    t = timelines(backend, queries)
    result = {
        "ingest": size / ours, "ingest_raw": size / raw,
        "p50": statistics.median(t["omnicx"]) * 1e3,
        "p50_raw": statistics.median(t["raw"]) * 1e3,
        "p50_control": statistics.median(t["control"]) * 1e3,
        "p99": percentile(t["omnicx"], 0.99) * 1e3, "p99_raw": percentile(t["raw"], 0.99) * 1e3,
    }
    print(f"{backend.name:<8} {size:>9,}  ingest {writers} writers: omnicx"
          f" {result['ingest']:>8,.0f}/s  raw {result['ingest_raw']:>8,.0f}/s"
          f"  ratio {result['ingest'] / result['ingest_raw']:.2f}x (target >= 0.30x)")
    print(f"{'':<8} {'':>9}  timeline p50: omnicx {result['p50']:6.2f} ms  raw"
          f" {result['p50_raw']:6.2f} ms  ratio {result['p50'] / result['p50_raw']:.2f}x"
          f" (target <= 2x); p99: omnicx {result['p99']:6.2f} ms  raw {result['p99_raw']:6.2f} ms")
    print(f"{'':<8} {'':>9}  control: the raw query on a second connection"
          f" {result['p50_control'] / result['p50_raw']:.2f}x raw (no bias: 1.00x)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="interactions per run, comma-separated (default: 10000,100000)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.writers, args.batch, args.queries = "300,600", 2, 100, 20
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backends.split(","):
            for size in sizes:
                backend: Backend = (SQLiteBackend(Path(tmp), size) if name == "sqlite"
                                    else PostgresBackend(size))
                try:
                    results[(name, size)] = bench(backend, size, args.writers, args.batch,
                                                  args.queries)
                finally:
                    backend.drop()
    print("\ntimeline p50 growth (omnicx, relative to the smallest size):")
    for name in args.backends.split(","):
        base = results[(name, sizes[0])]["p50"]
        steps = [f"{size:,}: {results[(name, size)]['p50']:.2f} ms"
                 f" ({results[(name, size)]['p50'] / base:.2f}x)" for size in sizes]
        print(f"  {name:<8} " + "  ".join(steps))


if __name__ == "__main__":
    main()
