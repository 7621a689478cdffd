"""KPIs over a large history: `History.kpis()` against raw SQL in the same run.

The database is filled with ``--size`` interactions (default 1,000,000)
written straight into omnicx's schema (filling is not what is measured):
conversations of 10 interactions on four channels, customer and agent taking
turns with a few minutes between them, every other conversation resolved by
a recorded lifecycle change, a tenth of them handled by a bot first. Then:

- first read: the first ``history.kpis()`` on the filled file folds every
  conversation and keeps one summary row per conversation
  (``kpi_summaries``); this is the cost of opening an existing history once;
- in the same run, taking turns (the aim's measurement):
  - raw aggregate: one SQL statement computing, per channel, the
    conversations, the mean first response (first outbound after the first
    inbound) and the resolved count: the figure a hand-written report would
    start from;
  - raw scan: reading the skeleton columns of every interaction into Python
    tuples (the floor of any computation outside SQL over the interactions);
  - omnicx: ``history.kpis(by="channel")``: first/next response, resolution,
    reopens, backlog per day, bot containment, channel mix, journeys;
- after writes: ``--changes`` (default 1,000) new messages and lifecycle
  changes through the real pipeline before each read (not timed), then the
  read, which folds again only the conversations the change feed names.

Aim (issue #14): omnicx at most 2x the raw aggregate.

Run: ``python benchmarks/bench_kpis.py [--size 1000000] [--repeat 3] [--changes 1000]``;
``--smoke`` runs a few thousand interactions once (CI).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from _common import median_latencies

import omnicx
from omnicx.storage import SQLiteStore

EPOCH_US = 1_767_225_600_000_000  # 2026-01-01
PER_CONVERSATION = 10
CHANNELS = ("email", "whatsapp", "webchat", "sms")

RAW_AGGREGATE = """
WITH firsts AS (
    SELECT conversation_id, min(channel) AS channel,
           min(CASE WHEN direction = 'inbound' THEN occurred_at END) AS first_in
    FROM interactions GROUP BY conversation_id),
answered AS (
    SELECT f.channel, f.first_in,
           (SELECT min(i.occurred_at) FROM interactions i
            WHERE i.conversation_id = f.conversation_id AND i.direction = 'outbound'
              AND i.occurred_at > f.first_in) AS first_out
    FROM firsts f)
SELECT channel, count(*), avg(first_out - first_in),
       (SELECT count(*) FROM events WHERE kind = 'conversation') AS resolved
FROM answered GROUP BY channel
"""

RAW_SCAN = (
    "SELECT i.id, i.conversation_id, coalesce(c.merged_into, c.id), i.channel, i.direction,"
    " i.kind, i.message_type, i.occurred_at FROM interactions i"
    " JOIN contacts c ON c.id = i.contact_id ORDER BY i.conversation_id, i.occurred_at, i.id")


def fill(path: Path, size: int) -> None:
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conversations = size // PER_CONVERSATION
    contacts = max(conversations // 3, 1)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO contacts (id, created_at) VALUES (?, ?)",
                     [(c, EPOCH_US) for c in range(1, contacts + 1)])
    conv_rows, rows, events = [], [], []
    iid = event_ids = 0
    for conv in range(1, conversations + 1):
        contact = conv % contacts + 1
        channel = CHANNELS[conv % len(CHANNELS)]
        start = EPOCH_US + conv * 40_000_000  # a new conversation every 40 s
        conv_rows.append((conv, contact, channel, "bench", f"t{conv}", start, start))
        at = start
        first_iid = iid + 1
        for n in range(PER_CONVERSATION):
            iid += 1
            at += (60 + (conv * 7 + n * 13) % 900) * 1_000_000
            direction = "inbound" if n % 2 == 0 else "outbound"
            rows.append((iid, contact, conv, channel, "bench", f"m{iid}", direction,
                         "message", "text", at, at, 10))
        if conv % 10 == 0:
            skeleton = json.dumps([conv, "assign", None, "bot:faq", None, None],
                                  separators=(",", ":"))
            event_ids += 1
            events.append((event_ids, first_iid, channel, "bench", f"m{first_iid}",
                           f"conversation:{conv:036d}:{skeleton}", "conversation",
                           start + 1, start + 1))
        if conv % 2 == 0:
            skeleton = json.dumps([conv, "resolve", "resolved", None, None, None],
                                  separators=(",", ":"))
            event_ids += 1
            events.append((event_ids, first_iid, channel, "bench", f"m{first_iid}",
                           f"conversation:{conv:036d}:{skeleton}", "conversation",
                           at + 60_000_000, at + 60_000_000))
        if len(rows) >= 50_000:
            _flush(conn, conv_rows, rows, events)
    _flush(conn, conv_rows, rows, events)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, conv_rows: list, rows: list, events: list) -> None:
    conn.executemany(
        "INSERT INTO conversations (id, contact_id, channel, account, thread_key, started_at,"
        " last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?)", conv_rows)
    conn.executemany(
        "INSERT INTO interactions (id, contact_id, conversation_id, channel, account,"
        " external_id, direction, kind, message_type, occurred_at, received_at, status_rank)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO events (id, interaction_id, channel, account, external_id, event_id,"
        " kind, occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
    conv_rows.clear()
    rows.clear()
    events.clear()


def write_some(history: omnicx.History, round_: int, count: int, conversations: int) -> None:
    """``count`` changes through the pipeline: new messages, and resolutions of
    existing conversations (one in ten)."""
    at = dt.datetime.fromtimestamp(EPOCH_US / 1e6 + conversations * 40 + 3600, dt.UTC)
    for n in range(count):
        if n % 10 == 0:
            history.conversations.resolve(1 + (round_ * count + n) % conversations,
                                          at=at + dt.timedelta(seconds=n))
        else:
            history.record(channel="sms", direction="inbound", text="hello",
                           contact=f"+4179{round_ % 10}{n:06d}", external_id=f"r{round_}-{n}",
                           occurred_at=at + dt.timedelta(seconds=n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--smoke", action="store_true", help="a few thousand rows, once (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.repeat, args.changes = 5_000, 1, 20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kpis.db"
        started = time.perf_counter()
        fill(path, args.size)
        print(f"filled {args.size:,} interactions in {time.perf_counter() - started:.1f} s")
        raw = sqlite3.connect(path)
        history = omnicx.open(path, default_region="CH")

        def aggregate() -> object:
            return raw.execute(RAW_AGGREGATE).fetchall()

        def scan() -> object:
            return raw.execute(RAW_SCAN).fetchall()

        def ours() -> object:
            return history.kpis(by="channel")

        started = time.perf_counter()
        checked = history.kpis(by="channel")
        first = time.perf_counter() - started
        conversations = args.size // PER_CONVERSATION
        assert checked.total.conversations == conversations
        assert len(aggregate()) == len(CHANNELS)  # type: ignore[arg-type]

        (agg, _), (floor, _), (mine, _) = median_latencies([aggregate, scan, ours],
                                                            args.repeat)
        after_writes = []
        for round_ in range(args.repeat):
            write_some(history, round_, args.changes, conversations)
            started = time.perf_counter()
            ours()
            after_writes.append(time.perf_counter() - started)
        later = statistics.median(after_writes)
        print(f"KPIs over {args.size:,} interactions (median of {args.repeat}, rotating order)")
        print(f"  raw SQL aggregate (first response per channel)  {agg * 1000:9.0f} ms")
        print(f"  raw scan of the skeleton into Python             {floor * 1000:9.0f} ms")
        print(f"  omnicx history.kpis(by='channel')                {mine * 1000:9.0f} ms")
        print(f"  {f'omnicx after {args.changes:,} writes':<48} {later * 1000:9.0f} ms")
        print(f"  omnicx first read (folds and keeps everything)  {first * 1000:9.0f} ms")
        print(f"  ratio omnicx / raw aggregate {mine / agg:5.2f}x (aim <= 2x),"
              f" after writes {later / agg:5.2f}x, first read {first / agg:5.2f}x;"
              f" omnicx / raw scan {mine / floor:5.2f}x")
        history.close()
        raw.close()


if __name__ == "__main__":
    main()
