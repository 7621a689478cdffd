"""Search latency: `History.search` against the raw full-text query, same run.

The database is filled with ``--size`` interactions (default 1,000,000) of
8 to 24 words: made-up words of a Zipf-like vocabulary of 50,000, and one in
fifteen drawn (Zipf-like too) from a German, French, Italian and English
support vocabulary, so a query word is in 0.1% to 5% of the rows; written
straight into omnicx's schema with ``executemany``, index terms included
(filling is not what is measured).
Then, in the same run, for each query:

- raw: the FTS query alone, ``SELECT rowid FROM search_index WHERE
  search_index MATCH ? ORDER BY rank LIMIT 50`` with ``sqlite3`` (on
  PostgreSQL ``SELECT interaction_id FROM search_index WHERE terms @@ q
  ORDER BY ts_rank(terms, q, 1) DESC LIMIT 50`` with psycopg), the match
  expression made beforehand;
- omnicx: ``History.search(query, limit=50)``, which also stems the query,
  joins the interactions (erased ones left out), builds `Interaction` objects
  and snippets.

Queries go from rare words to words in a third of all rows. Reported: p50 and
p99 of each query, omnicx beside raw.

Run: ``python benchmarks/bench_search.py [--size 1000000] [--postgres URL]``;
``--smoke`` runs a tiny size once (the test suite does).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from _common import median_latencies, report

import omnicx
from omnicx._search import document_terms, query_terms
from omnicx.storage import SQLiteStore
from omnicx.storage._fulltext import PostgresFullText, SqliteFullText
from omnicx.storage._sql import _INTERACTION_COLUMNS

EPOCH_US = 1_735_689_600_000_000  # 2025-01-01
PER_CONTACT = 50
FILLER = 50_000
VOCABULARY = (
    "bitte", "danke", "paket", "kaputt", "lieferung", "rechnung", "bestellung", "rückgabe",
    "ersatz", "adresse", "kundendienst", "zahlung", "mahnung", "termin", "warten", "heute",
    "morgen", "leider", "schnell", "problem", "merci", "livraison", "colis", "commande",
    "facture", "retard", "remboursement", "adresse", "paiement", "rendez-vous", "aujourd'hui",
    "demain", "malheureusement", "problème", "bonjour", "grazie", "spedizione", "pacco",
    "ordine", "fattura", "ritardo", "rimborso", "pagamento", "indirizzo", "oggi", "domani",
    "purtroppo", "problema", "buongiorno", "thanks", "delivery", "parcel", "order", "invoice",
    "late", "refund", "payment", "address", "today", "tomorrow", "broken", "replacement",
    "tracking", "number", "customer", "service", "please", "hello", "support"
)
QUERIES = ("remboursement", "spedizioni", "Pakete kaputt", "deliveries late",
           "Rechnung", "thanks")


def _words(rng: random.Random) -> Iterator[str]:
    """Words of a Zipf-like vocabulary of ``FILLER`` made-up words, with a word of
    `VOCABULARY` (each in roughly one row of 20 to 100) now and then."""
    letters = "abcdefghijklmnopqrstuvwxyzäöüéè"
    filler = ["".join(rng.choices(letters, k=rng.randrange(3, 11))) for _ in range(FILLER)]
    weights = list(accumulate(1 / (rank + 1) for rank in range(FILLER)))
    support = list(accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
    while True:
        yield from rng.choices(filler, cum_weights=weights, k=14)
        yield from rng.choices(VOCABULARY, cum_weights=support, k=1)


def rows(size: int) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Interaction rows (in `_INTERACTION_COLUMNS` order) with their index terms."""
    rng = random.Random(7)
    words = _words(rng)
    contacts = max(1, size // PER_CONTACT)
    for n in range(1, size + 1):
        contact = 1 + n % contacts
        text = " ".join(next(words) for _ in range(rng.randrange(8, 25)))
        yield ((n, contact, contact, "webchat", "bench", f"m{n}", "inbound", "message",
                "message", EPOCH_US + rng.randrange(0, 86_400_000_000 * 365), EPOCH_US,
                "email", f"customer{contact}@example.com", None, None, None, text, None, None,
                None, None, -1, None, None, None), " ".join(document_terms(None, text)))


def _contacts(size: int) -> list[tuple[int, int]]:
    return [(c, EPOCH_US) for c in range(1, max(1, size // PER_CONTACT) + 1)]


def fill_sqlite(path: Path, size: int) -> None:
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO contacts (id, created_at) VALUES (?, ?)", _contacts(size))
    conn.executemany(
        "INSERT INTO conversations (id, contact_id, channel, account, thread_key, started_at,"
        " last_activity_at) VALUES (?, ?, 'webchat', 'bench', 'k', ?, ?)",
        [(c, c, at, at) for c, at in _contacts(size)])
    conn.execute("COMMIT")
    marks = ", ".join("?" * len(_INTERACTION_COLUMNS.split(",")))
    statement = f"INSERT INTO interactions ({_INTERACTION_COLUMNS}) VALUES ({marks})"
    batch: list[tuple[tuple[Any, ...], str]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(statement, [row for row, _ in batch])
        conn.executemany("INSERT INTO search_index (rowid, terms) VALUES (?, ?)",
                         [(row[0], terms) for row, terms in batch])
        conn.execute("COMMIT")
        batch.clear()

    for item in rows(size):
        batch.append(item)
        if len(batch) == 50_000:
            flush()
    if batch:
        flush()
    conn.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.close()


def fill_postgres(url: str, schema: str, size: int) -> None:
    import psycopg

    from omnicx.storage import PostgresStore

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    PostgresStore(url, schema=schema).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        with conn.cursor() as cur, cur.copy(
                "COPY contacts (id, created_at) FROM STDIN") as copy:
            for row in _contacts(size):
                copy.write_row(row)
        with conn.cursor() as cur, cur.copy(
                "COPY conversations (id, contact_id, channel, account, thread_key, started_at,"
                " last_activity_at) FROM STDIN") as copy:
            for c, at in _contacts(size):
                copy.write_row((c, c, "webchat", "bench", "k", at, at))
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE terms_in (interaction_id BIGINT, terms TEXT)")
            index: list[tuple[int, str]] = []
            with cur.copy(f"COPY interactions ({_INTERACTION_COLUMNS}) FROM STDIN") as copy:
                for row, terms in rows(size):
                    copy.write_row(row)
                    index.append((row[0], terms))
            with cur.copy("COPY terms_in FROM STDIN") as copy:
                for pair in index:
                    copy.write_row(pair)
            cur.execute("INSERT INTO search_index SELECT interaction_id,"
                        " to_tsvector('simple', terms) FROM terms_in")
            cur.execute("ANALYZE")


def measure(name: str, history: omnicx.History, raw: Callable[[str], object],
            repeat: int) -> None:
    for query in QUERIES:
        found = len(history.search(query, limit=50))

        def ours(query: str = query) -> None:
            history.search(query, limit=50)

        def baseline(query: str = query) -> None:
            raw(query)

        (raw_p50, raw_p99), (our_p50, our_p99) = median_latencies([baseline, ours], repeat)
        report(f"{name} {query!r} ({found} hits) p50 (ms)", our_p50 * 1e3, raw_p50 * 1e3,
               "ms", False, "-")
        report(f"{name} {query!r} p99 (ms)", our_p99 * 1e3, raw_p99 * 1e3, "ms", False, "-")


def sqlite_run(path: Path, size: int, repeat: int) -> None:
    start = time.perf_counter()
    fill_sqlite(path, size)
    print(f"SQLite: filled {size:,} interactions in {time.perf_counter() - start:.0f}s")
    history = omnicx.open(path)
    conn = sqlite3.connect(path)
    fts = SqliteFullText()

    def raw_sqlite(query: str) -> object:
        return conn.execute(
            "SELECT rowid FROM search_index WHERE search_index MATCH ?"
            " ORDER BY rank LIMIT 50", (fts.match(query_terms(query)),)).fetchall()

    measure("sqlite", history, raw_sqlite, repeat)
    history.close()
    conn.close()


def postgres_run(url: str, schema: str, size: int, repeat: int) -> None:
    import psycopg

    start = time.perf_counter()
    fill_postgres(url, schema, size)
    print(f"PostgreSQL: filled {size:,} interactions in {time.perf_counter() - start:.0f}s")
    history = omnicx.open(url, schema=schema)
    pg = psycopg.connect(url, autocommit=True)
    pg.execute(f"SET search_path TO {schema}")
    tsq = PostgresFullText()

    def raw_postgres(query: str) -> object:
        return pg.execute(
            "SELECT interaction_id FROM search_index, to_tsquery('simple', %s) q"
            " WHERE terms @@ q ORDER BY ts_rank(terms, q, 1) DESC LIMIT 50",
            (tsq.match(query_terms(query)),)).fetchall()

    measure("postgres", history, raw_postgres, repeat)
    history.close()
    pg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50, help="timed runs of each query")
    parser.add_argument("--postgres", help="also measure PostgreSQL at this URL")
    parser.add_argument("--schema", default="omnicx_bench_search")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--smoke", action="store_true", help="a tiny size, once")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.repeat = 2_000, 3
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_run(Path(tmp) / "search.db", args.size, args.repeat)
    if args.postgres:
        postgres_run(args.postgres, args.schema, args.size, args.repeat)
    print(json.dumps({"size": args.size, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
