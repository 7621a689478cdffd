"""Change feed reading and webhook delivery, each next to a raw baseline in the same run.

The history (SQLite) is filled through `History.receive_many` with
``--size`` WebChat messages (each a ``contact.created`` now and then and an
``interaction.created``), with a webhook subscribed to ``interaction.created``
beforehand, so that the outbox holds one delivery per message. Then:

- feed: reading the whole feed in pages of 500 with ``History.changes``
  (cursor decoding, `Change` objects with their data decoded) against raw
  ``sqlite3`` paging of the same table (``WHERE id > ? ORDER BY id LIMIT
  500``, rows fetched as tuples, their JSON left undecoded); the two take
  turns (`median_latencies`). What omnicx adds per change is one object and
  one JSON decode (orjson with the ``fast`` extra), hence the 0.2x target;
- webhooks: ``--deliveries`` deliveries to a real receiver on 127.0.0.1
  that verifies every signature (``tests/webhook_receiver.py``), by
  `Webhooks.deliver` on one thread and on eight, against a raw loop that
  signs the same bodies and POSTs them with one ``httpx.Client``. Between
  rounds the deliveries are set back to pending; rounds rotate the order.
  On this loopback receiver eight threads are slower than one (they only
  contend for the GIL and the receiver); they pay off for a receiver that
  is far away.

With ``--postgres URL`` the feed read is also measured on PostgreSQL (a
scratch schema, dropped after), against raw psycopg paging.

Run: ``python benchmarks/bench_feed.py [--size 20000] [--deliveries 2000]``;
``--smoke`` runs a tiny size once (the test suite does, so it cannot rot).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import standardwebhooks
from _common import CHANNEL, median_latencies, report, webchat_payloads

import omnicx
from omnicx._webhooks import payload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from webhook_receiver import Receiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PAGE = 500


def fill(history: omnicx.History, size: int, url: str) -> None:
    history.webhooks.add(url, secret=SECRET, events={"interaction.created"})
    history.receive_many(CHANNEL, webchat_payloads(size, contacts=max(size // 20, 1)),
                         batch_size=500)


def walkers(history: omnicx.History, raw_page: Callable[[int], list[Any]]
            ) -> tuple[Callable[[], None], Callable[[], None]]:
    """Two readers of the whole feed: raw pages after an id, and `History.changes`."""

    def raw() -> None:
        last = 0
        while True:
            rows = raw_page(last)
            if not rows:
                return
            last = rows[-1][0]

    def ours() -> None:
        cursor: str | None = None
        while True:
            page = history.changes(after=cursor, limit=PAGE)
            if not page.items:
                return
            cursor = page.next_cursor

    return raw, ours


def postgres_feed(url: str, size: int, repeat: int) -> None:
    """The feed read on PostgreSQL: `History.changes` against raw psycopg paging."""
    import uuid

    import psycopg

    schema = f"bench_feed_{uuid.uuid4().hex[:8]}"
    history = omnicx.open(url, schema=schema)
    try:
        history.receive_many(CHANNEL, webchat_payloads(size, contacts=max(size // 20, 1)),
                             batch_size=500)
        raw = psycopg.connect(url, autocommit=True)
        raw.execute(f"SET search_path TO {schema}")
        (feed_size,) = raw.execute("SELECT count(*) FROM changes").fetchone() or (0,)

        raw_pages, ours = walkers(history, lambda last: raw.execute(
            "SELECT id, kind, at, contact_id, interaction_id, data FROM changes"
            " WHERE id > %s ORDER BY id LIMIT %s", (last, PAGE)).fetchall())
        (raw_t, _), (ours_t, _) = median_latencies([raw_pages, ours], repeat * 2)
        print(f"PostgreSQL feed of {feed_size:,} changes, pages of {PAGE}")
        report("feed read, PostgreSQL (changes/s)", feed_size / ours_t, feed_size / raw_t,
               "/s", True, ">= 0.2x")
        raw.execute(f"DROP SCHEMA {schema} CASCADE")
        raw.close()
    finally:
        history.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="messages received")
    parser.add_argument("--deliveries", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each contestant")
    parser.add_argument("--smoke", action="store_true", help="a tiny run, once")
    parser.add_argument("--postgres", metavar="URL",
                        help="also read the feed from PostgreSQL (a scratch schema)")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.deliveries, args.repeat = 300, 60, 1
    if args.postgres:
        postgres_feed(args.postgres, args.size, args.repeat)
    receiver = Receiver(SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.db"
        history = omnicx.open(path)
        start = time.perf_counter()
        fill(history, args.size, receiver.url)
        print(f"received {args.size:,} messages in {time.perf_counter() - start:.1f}s")
        raw = sqlite3.connect(path, isolation_level=None)
        feed_size = raw.execute("SELECT count(*) FROM changes").fetchone()[0]

        raw_feed, ours_feed = walkers(history, lambda last: raw.execute(
            "SELECT id, kind, at, contact_id, interaction_id, data FROM changes"
            " WHERE id > ? ORDER BY id LIMIT ?", (last, PAGE)).fetchall())
        (raw_t, _), (ours_t, _) = median_latencies([raw_feed, ours_feed], args.repeat * 2)
        print(f"feed of {feed_size:,} changes, pages of {PAGE}")
        report("feed read (changes/s)", feed_size / ours_t, feed_size / raw_t, "/s", True,
               ">= 0.2x")

        # Webhooks: the first --deliveries deliveries; the rest stay out of the way.
        count = min(args.deliveries, args.size)
        (cut,) = raw.execute("SELECT id FROM webhook_deliveries ORDER BY id LIMIT 1 OFFSET ?",
                             (count - 1,)).fetchone()
        raw.execute("UPDATE webhook_deliveries SET state = 'delivered' WHERE id > ?", (cut,))
        with history.store.reading() as tx:
            changes = tx.change_records(d.change_id for d in tx.deliveries(
                state="pending", webhook_id=None, after=0, limit=count))
        bodies = [(f"msg_{c.id}", payload(c)) for c in sorted(changes.values(),
                                                               key=lambda c: c.id)]
        signer = standardwebhooks.Webhook(SECRET)

        def reset() -> None:
            raw.execute("UPDATE webhook_deliveries SET state = 'pending', attempts = 0,"
                        " next_attempt_at = 0 WHERE id <= ?", (cut,))

        def ours(concurrency: int) -> Callable[[], None]:
            def run() -> None:
                reset()
                delivered = 0
                with httpx.Client(timeout=10) as client:
                    while delivered < count:
                        report = history.webhooks.deliver(
                            limit=PAGE, concurrency=concurrency, client=client)
                        delivered += report.delivered
                        if not report.attempted:
                            raise RuntimeError("deliveries stalled")
            return run

        def raw_posts() -> None:
            with httpx.Client(timeout=10) as client:
                for message_id, body in bodies:
                    now = dt.datetime.now(dt.UTC)
                    client.post(receiver.url, content=body.encode(), headers={
                        "webhook-id": message_id,
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": signer.sign(message_id, now, body),
                        "content-type": "application/json"}).raise_for_status()

        before = len(receiver.received)
        (raw_d, _), (one_d, _), (eight_d, _) = median_latencies(
            [raw_posts, ours(1), ours(8)], args.repeat)
        sent = len(receiver.received) - before
        assert receiver.rejected == 0 and sent == 3 * count * args.repeat, sent
        print(f"{count:,} deliveries to a verifying receiver on 127.0.0.1")
        report("webhook delivery, 1 thread (deliveries/s)", count / one_d, count / raw_d,
               "/s", True, ">= 0.5x")
        report("webhook delivery, 8 threads (deliveries/s)", count / eight_d, count / raw_d,
               "/s", True, "-")
        raw.close()
        history.close()
    receiver.close()


if __name__ == "__main__":
    main()
