"""The cost of integrity and privacy: encryption at ingest, and verify().

Two measurements, each with its baseline in the same run:

- ingest: ``History.receive_many`` of the same WebChat payloads into a fresh
  SQLite file with a key (AES-256-GCM content, sealed raw payloads) and
  without one (the hash chain only), best of ``--repeat`` runs, interleaved.
  Target: encryption costs <= 25% of throughput (ratio >= 0.75x).
- verify: ``History.verify()`` over a history of ``--verify`` interactions
  (default 100,000; pass ``--verify 1000000`` for the 1M figure) against
  ``hashlib.sha256`` alone over exactly the bytes verify hashes (each record's
  content, then its chain link), prepared in memory beforehand.
  Target: >= 0.5x the speed of hashlib alone. And against a floor that
  reads the same columns (plain sqlite3, the store's own statements) and
  hashes the same bytes: target >= 0.6x.

Message size matters for the second: per record, verify() also has SQLite
build the two hashed byte strings (JSON arrays) and hand them over with the
record's position and hashes, a fixed cost that hashing a short chat line
cannot hide; ``--body`` sets the size (by default both a chat line and a 4 kB
message are measured). For scale, the run also prints how long it takes
just to read the five chain columns of every interaction (contact, position,
prev_hash, hash, digest): a verify that reads its rows through Python's
sqlite3 needs at least those, so it cannot beat that time plus hashing.

With ``--postgres URL`` the verify measurement also runs on PostgreSQL (in a
scratch schema, dropped afterwards): ``verify()`` with the database building
the hashed bytes (``chain_inputs``) against the record-by-record walk it took
before PostgreSQL had one, the two taking turns in the same run.

Run: ``python benchmarks/bench_integrity.py [--ingest 20000] [--verify 1000000] [--body 0]
[--postgres postgresql://postgres@127.0.0.1:5432/test]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import CHANNEL, START, rate, report, webchat_payloads

import omnicx
from omnicx._chain import (
    content_bytes,
    erasure_material,
    event_material,
    interaction_material,
)
from omnicx.storage import SQLiteStore
from omnicx.storage._sql import _CHAIN_EVENT, _CHAIN_INTERACTION

KEY = bytes(range(32))
_VERSION = b"ocx1"


def _ingest_once(path: Path, payloads: list[tuple[bytes, dict[str, str]]],
                 key: bytes | None) -> float:
    with omnicx.open(path, key=key) as history:
        start = time.perf_counter()
        history.receive_many(CHANNEL, payloads)
        return time.perf_counter() - start


def ingest(tmp: Path, count: int, repeat: int) -> None:
    payloads = list(webchat_payloads(count))
    best = {"clear": float("inf"), "key": float("inf")}
    for run in range(repeat):
        for mode in ("clear", "key"):
            seconds = _ingest_once(tmp / f"ingest-{mode}-{run}.db", payloads,
                                   KEY if mode == "key" else None)
            best[mode] = min(best[mode], seconds)
    print(f"ingest of {count:,} payloads (best of {repeat}): without key"
          f" {rate(count, best['clear'])}, with key {rate(count, best['key'])}")
    report("ingest with encryption vs without (payloads/s)", count / best["key"],
           count / best["clear"], "/s", True, ">= 0.75x")


def _bulk_payloads(count: int, contacts: int, per_payload: int, body: int
                   ):  # type: ignore[no-untyped-def]
    """Payloads of ``per_payload`` messages each, one visitor per payload; message
    texts are about ``body`` characters (0: a short chat line)."""
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (body // 57 + 1)
              )[:body]
    n = 0
    while n < count:
        visitor = (n // per_payload) % contacts
        events = []
        for _ in range(min(per_payload, count - n)):
            events.append({
                "type": "message", "id": f"m{n}", "session": f"s{visitor}",
                "at": int(START.timestamp()) + n, "from": "visitor" if n % 3 else "agent",
                "visitor": {"email": f"visitor{visitor}@example.com"},
                "text": f"Message number {n}: where is my parcel? Order #{100000 + n}."
                        + filler,
            })
            n += 1
        body = json.dumps({"site": "bench", "events": events}).encode()
        yield body, CHANNEL.sign(body)


def build(path: Path, count: int, body: int) -> None:
    start = time.perf_counter()
    with omnicx.open(path, synchronous="OFF") as history:
        history.receive_many(CHANNEL, _bulk_payloads(count, max(1, count // 100), 100, body),
                             batch_size=50)
    print(f"built a history of {count:,} interactions in {time.perf_counter() - start:.0f}s")


def hashlib_alone(path: Path) -> tuple[float, int, int]:
    """Seconds hashlib needs for the bytes verify hashes; records and bytes hashed."""
    store = SQLiteStore(path)
    seconds = 0.0
    records = hashed = 0
    last = 0
    sha256 = hashlib.sha256
    while True:
        with store.reading() as tx:
            ids = tx.chained_contacts(last, 256)
            if not ids:
                break
            rows = tx.chain_rows(ids)
        last = ids[-1]
        # Exactly what verify_contact hashes: each record's content (not for an
        # erased one: its content is gone), then its chain link; an erasure's link.
        chunks: list[bytes] = []
        for row in rows.interactions:
            if row[17] is None:
                chunks.append(bytes(row[18]) if row[18] is not None
                              else content_bytes(row[19:28]))
            chunks.append(bytes(row[16]) + _VERSION
                          + interaction_material(row[:14], bytes(row[14])))
        for row in rows.events:
            if row[16] is None:
                chunks.append(bytes(row[17]) if row[17] is not None
                              else (row[18] or "").encode())
            chunks.append(bytes(row[15]) + _VERSION + event_material(row[:13], bytes(row[13])))
        for row in rows.erasures:
            chunks.append(bytes(row[7]) + _VERSION + erasure_material(row[:6]))
        records += len(rows.interactions) + len(rows.events) + len(rows.erasures)
        hashed += sum(map(len, chunks))
        start = time.perf_counter()
        for chunk in chunks:
            sha256(chunk).digest()
        seconds += time.perf_counter() - start
    store.close()
    return seconds, records, hashed


def read_chain_columns(path: Path) -> float:
    """Seconds to read the five chain columns of every interaction into Python."""
    conn = sqlite3.connect(path)
    try:
        start = time.perf_counter()
        cursor = conn.execute("SELECT contact_id, chain_seq, prev_hash, hash, digest"
                              " FROM interactions")
        while cursor.fetchmany(4096):
            pass
        return time.perf_counter() - start
    finally:
        conn.close()


def read_same_columns(path: Path) -> float:
    """Seconds plain sqlite3 needs to read every column verify() reads, contact batch by batch.

    The same statements as the store's ``chain_rows`` (interactions, their
    events, erasures; 256 contacts a batch), fetched as tuples with nothing
    done to them. Added to `hashlib_alone` it is the floor of any verify
    written in Python over sqlite3: read the same columns, hash the same bytes.
    """
    conn = sqlite3.connect(path)
    try:
        contacts = [r[0] for r in conn.execute("SELECT id FROM contacts ORDER BY id")]
        start = time.perf_counter()
        for at in range(0, len(contacts), 256):
            ids = contacts[at:at + 256]
            marks = ",".join("?" * len(ids))
            conn.execute(f"SELECT {_CHAIN_INTERACTION} FROM interactions"
                         f" WHERE contact_id IN ({marks})", ids).fetchall()
            conn.execute(f"SELECT {_CHAIN_EVENT} FROM events e JOIN interactions i"
                         f" ON i.id = e.interaction_id WHERE i.contact_id IN ({marks})",
                         ids).fetchall()
            conn.execute("SELECT id, contact_id, erased_at, erased_before, reason, chain_seq,"
                         f" hash, prev_hash FROM erasures WHERE contact_id IN ({marks})",
                         ids).fetchall()
        return time.perf_counter() - start
    finally:
        conn.close()


def verify(tmp: Path, count: int, body: int) -> None:
    path = tmp / f"verify-{body}.db"
    build(path, count, body)
    with omnicx.open(path) as history:
        start = time.perf_counter()
        result = history.verify()
        seconds = time.perf_counter() - start
    assert result.ok, str(result)
    baseline, records, hashed = hashlib_alone(path)
    columns = read_chain_columns(path)
    reading = read_same_columns(path)
    print(f"verify of {result.records:,} records ({result.contacts:,} contacts,"
          f" {hashed / 1e6:,.0f} MB hashed): verify() {seconds:.2f}s"
          f" ({rate(records, seconds)}), hashlib alone {baseline:.2f}s,"
          f" reading the chain columns alone {columns:.2f}s,"
          f" reading every column verify reads {reading:.2f}s")
    report(f"verify() vs hashlib, {hashed // records} B/record (records/s)", records / seconds,
           records / baseline, "/s", True, ">= 0.5x")
    report(f"verify() vs read+hash floor, {hashed // records} B/rec", records / seconds,
           records / (reading + baseline), "/s", True, ">= 0.6x")


def verify_postgres(url: str, count: int, body: int, repeat: int) -> None:
    """verify() on PostgreSQL with chain_inputs, and with the walk it replaced."""
    import uuid

    import psycopg
    from psycopg import sql

    from omnicx.storage import PostgresStore
    from omnicx.storage._postgres import _PostgresDialect

    schema = f"omnicx_bench_{uuid.uuid4().hex[:8]}"
    try:
        start = time.perf_counter()
        with omnicx.open(url, schema=schema) as history:
            history.receive_many(CHANNEL, _bulk_payloads(count, max(1, count // 100), 100, body),
                                 batch_size=50)
        print(f"built a PostgreSQL history of {count:,} interactions"
              f" in {time.perf_counter() - start:.0f}s")
        built = _PostgresDialect.chain_inputs
        timings: dict[str, list[float]] = {"chain_inputs": [], "walk": []}
        records = 0
        with omnicx.open(PostgresStore(url, schema=schema)) as history:
            for run in range(repeat):
                for mode in (("chain_inputs", "walk") if run % 2 == 0
                             else ("walk", "chain_inputs")):
                    _PostgresDialect.chain_inputs = (  # type: ignore[method-assign]
                        built if mode == "chain_inputs" else lambda self, cursor, ids: None)
                    start = time.perf_counter()
                    result = history.verify()
                    timings[mode].append(time.perf_counter() - start)
                    assert result.ok, str(result)
                    records = result.records
        _PostgresDialect.chain_inputs = built  # type: ignore[method-assign]
        fast, slow = min(timings["chain_inputs"]), min(timings["walk"])
        print(f"PostgreSQL verify of {records:,} records, best of {repeat}:"
              f" with chain_inputs {fast:.2f}s ({rate(records, fast)}),"
              f" record-by-record walk {slow:.2f}s ({rate(records, slow)});"
              f" all runs: {[round(t, 2) for t in timings['chain_inputs']]} vs"
              f" {[round(t, 2) for t in timings['walk']]}")
        report(f"PostgreSQL verify(), {body} extra chars/message (records/s)", records / fast,
               records / slow, "/s", True, "> 1x")
        pairs = sorted(w / c for c, w in zip(timings["chain_inputs"], timings["walk"],
                                              strict=True))
        print(f"  chain_inputs vs walk, each round (same-run pairs): "
              f"{', '.join(f'{r:.2f}x' for r in pairs)}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest", type=int, default=20_000, help="payloads to ingest")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs per mode")
    parser.add_argument("--verify", type=int, default=100_000,
                        help="interactions to verify (1000000 for the 1M figure)")
    parser.add_argument("--body", type=int, action="append",
                        help="extra characters per message text (repeatable; default: 0"
                             " for chat lines, and 4000 for e-mail sized messages)")
    parser.add_argument("--postgres", metavar="URL",
                        help="also measure verify() on this PostgreSQL server")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.ingest, args.repeat, args.verify, args.body = 200, 1, 1000, [0]
    logging.getLogger("omnicx").setLevel(logging.ERROR)  # the "in the clear" notice
    with tempfile.TemporaryDirectory() as tmp:
        if args.ingest:
            ingest(Path(tmp), args.ingest, args.repeat)
        if args.verify:
            for body in args.body or [0, 4000]:
                verify(Path(tmp), args.verify, body)
                if args.postgres:
                    verify_postgres(args.postgres, args.verify, body, args.repeat)


if __name__ == "__main__":
    main()
