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
- each also against a ceiling: the raw inserts plus verifying and parsing
  the same payloads (what any ingest must do at least). Bulk target: >= 0.5x.

Run: ``python benchmarks/bench_ingest.py [--bulk 50000] [--durable 2000]``
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import CHANNEL, rate, report, timed, webchat_payloads

import omnicx
from omnicx.storage import SQLiteStore

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


def bulk(tmp: Path, count: int) -> None:
    payloads = list(webchat_payloads(count))
    ours_path = tmp / "bulk.db"
    history = omnicx.open(ours_path)
    seconds = timed(lambda: history.receive_many(CHANNEL, payloads, batch_size=500))
    history.close()
    rows = _rows(ours_path)
    conn = _empty_copy(tmp / "bulk-raw.db")

    def raw() -> None:
        for table in TABLES:
            columns, data = rows[table]
            for start in range(0, len(data), 500):
                conn.execute("BEGIN")
                _insert(conn, table, columns, data[start:start + 500])
                conn.execute("COMMIT")

    baseline = timed(raw)
    print(f"bulk ingest of {count:,} payloads: omnicx {rate(count, seconds)},"
          f" raw executemany {rate(count, baseline)}")
    report("bulk ingest (payloads/s)", count / seconds, count / baseline, "/s", True, ">= 0.5x")
    _ceiling("bulk", payloads, baseline, seconds, ">= 0.5x")


def durable(tmp: Path, count: int) -> None:
    payloads = list(webchat_payloads(count))
    ours_path = tmp / "durable.db"
    history = omnicx.open(ours_path)

    def ours() -> None:
        for body, headers in payloads:
            history.receive(CHANNEL, body=body, headers=headers)

    seconds = timed(ours)
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


def _ceiling(name: str, payloads: list[tuple[bytes, dict[str, str]]], baseline: float,
             ours: float, target: str) -> None:
    """The best ratio any ingest could reach: raw inserts plus checking and decoding only.

    The raw baseline is handed finished rows; omnicx must at least verify each
    signature and decode each body before it can build them. omnicx against
    that ceiling (raw inserts + verify + parse, same payloads, same run) is
    what its own work costs.
    """
    def check_and_decode() -> None:
        for body, headers in payloads:
            CHANNEL.verify(body, headers)
            CHANNEL.parse(body, headers)

    floor = timed(check_and_decode)
    print(f"  ceiling: raw inserts + verify + parse alone would be"
          f" {baseline / (baseline + floor):.2f}x ({floor / len(payloads) * 1e6:.1f} us/payload"
          f" to verify and parse, {baseline / len(payloads) * 1e6:.1f} us/payload raw)")
    report(f"{name} ingest vs the ceiling (payloads/s)", len(payloads) / ours,
           len(payloads) / (baseline + floor), "/s", True, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--durable", type=int, default=2_000)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.bulk, args.durable = 300, 30
    with tempfile.TemporaryDirectory() as tmp:
        bulk(Path(tmp), args.bulk)
        durable(Path(tmp), args.durable)


if __name__ == "__main__":
    main()
