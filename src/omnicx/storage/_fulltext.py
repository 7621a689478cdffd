"""The search index in each backend: the table, its writes, its query.

Every backend keeps one index row per interaction with content: the terms
`omnicx._search.document_terms` made of its subject and text (stems, or keyed
hashes of stems with a key), space-separated, in order. The database matches
and ranks them; what a term means is decided above the store, so the backends
only differ in how they hold a bag of words:

- SQLite: an FTS5 table ``search_index`` whose rowid is the interaction id,
  ranked by ``bm25``. FTS5 keeps a deleted row's terms in its segment b-trees
  until they are merged, so `SqliteFullText.unindex` merges them at once
  (``'optimize'``), or, on SQLite 3.42 and later, has FTS5 remove them in place
  (the ``secure-delete`` option): an erased person's words are off the disk
  when the erasure commits (with ``PRAGMA secure_delete``, freed pages are
  zeroed).
- PostgreSQL: a table ``search_index (interaction_id, terms tsvector)`` with a
  GIN index, built with the ``simple`` configuration (no stemming or stop
  words of its own: the terms are stemmed already), ranked by ``ts_rank``.
- Memory: an inverted index and BM25 in `omnicx.storage._memory`.

A query is one group of terms a query word; a row matches when it holds a
term of every group. Scores are the backend's own, higher is better.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from .._errors import ConfigurationError

__all__ = [
    "POSTGRES_DDL",
    "SQLITE_DDL",
    "FullText",
    "PostgresFullText",
    "SearchQuery",
    "SqliteFullText",
]


@attrs.frozen(kw_only=True)
class SearchQuery:
    """What `Transaction.search` looks for.

    ``words``: one tuple of terms a query word (any of them matches the word;
    every word must match). ``contact_ids``: only these contacts' interactions
    (empty: everyone's). Erased interactions are never found. Results are
    ordered by score, then the most recently stored (highest id) first.
    (Filters are joined on the ``interactions`` row, so a tenant filter is
    one more condition here.) Without filters, the index ranks alone and
    only the page's rows are read: erasure removes index rows in the same
    transaction, so none of them is an erased row.
    """

    words: tuple[tuple[str, ...], ...]
    contact_ids: tuple[int, ...] = ()
    channels: frozenset[str] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 50

    def __attrs_post_init__(self) -> None:
        if not self.words or not all(self.words):
            raise ConfigurationError("a search query needs at least one term per word")
        for group in self.words:
            for term in group:
                if not term.isalnum():
                    raise ConfigurationError(f"a search term is letters and digits: {term!r}")


class FullText(Protocol):
    """A SQL dialect's search index: write rows, drop rows, build the query."""

    def index(self, cursor: Any, rows: Sequence[tuple[int, str]]) -> None:
        """Store (or replace) each interaction's space-separated terms."""
        ...

    def unindex(self, cursor: Any, where: str, params: Sequence[Any]) -> int:
        """Drop the rows of the interactions ``where`` selects (``?`` placeholders),
        so that none of their terms stays on disk; return how many."""
        ...

    def query(self, columns: str, query: SearchQuery, to_us: Any) -> tuple[str, list[Any]]:
        """The statement (``?`` placeholders) and parameters of ``query``: the
        interaction ``columns`` of each match, then its score."""
        ...


# The dialects' DDL for the ``{search_index}`` placeholder of the schema.
SQLITE_DDL = "CREATE VIRTUAL TABLE search_index USING fts5(terms)"
POSTGRES_DDL = (
    "CREATE TABLE search_index (interaction_id BIGINT PRIMARY KEY, terms tsvector NOT NULL);"
    " CREATE INDEX search_index_terms ON search_index USING GIN (terms)"
)


def _filters(query: SearchQuery, params: list[Any], to_us: Any) -> str:
    where = ""
    if query.contact_ids:
        where += f" AND i.contact_id IN ({', '.join('?' * len(query.contact_ids))})"
        params.extend(query.contact_ids)
    if query.channels:
        where += f" AND i.channel IN ({', '.join('?' * len(query.channels))})"
        params.extend(sorted(query.channels))
    if query.since is not None:
        where += " AND i.occurred_at >= ?"
        params.append(to_us(query.since))
    if query.until is not None:
        where += " AND i.occurred_at < ?"
        params.append(to_us(query.until))
    return where


def _prefixed(columns: str) -> str:
    return ", ".join(f"i.{c.strip()}" for c in columns.split(","))


class SqliteFullText:
    """FTS5: ``MATCH`` with quoted terms (no operator of the user's reaches FTS5)."""

    def __init__(self) -> None:
        # FTS5 removes a deleted row's terms from its b-trees itself from 3.42 on.
        self.secure_delete = sqlite3.sqlite_version_info >= (3, 42, 0)

    @staticmethod
    def match(words: Sequence[Sequence[str]]) -> str:
        return " AND ".join("(" + " OR ".join(f'"{t}"' for t in group) + ")"
                            for group in words)

    def index(self, cursor: Any, rows: Sequence[tuple[int, str]]) -> None:
        cursor.executemany("INSERT OR REPLACE INTO search_index (rowid, terms) VALUES (?, ?)",
                           rows)

    def unindex(self, cursor: Any, where: str, params: Sequence[Any]) -> int:
        if self.secure_delete:
            cursor.execute("INSERT INTO search_index (search_index, rank)"
                           " VALUES ('secure-delete', 1)")
        deleted = cursor.execute(
            f"DELETE FROM search_index WHERE rowid IN (SELECT id FROM interactions WHERE {where})",
            params).rowcount
        if deleted and not self.secure_delete:
            # Merge every segment, so no b-tree keeps the deleted terms.
            cursor.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
        return int(deleted)

    def query(self, columns: str, query: SearchQuery, to_us: Any) -> tuple[str, list[Any]]:
        params: list[Any] = [self.match(query.words)]
        where = _filters(query, params, to_us)
        params.append(query.limit)
        if not where:  # rank in the index alone, then read only the rows of the page
            return (f"SELECT {_prefixed(columns)}, -t.rank AS score FROM (SELECT rowid AS id,"
                    " bm25(search_index) AS rank FROM search_index WHERE search_index MATCH ?"
                    " ORDER BY rank, rowid DESC LIMIT ?) t JOIN interactions i ON i.id = t.id"
                    " WHERE i.erased_at IS NULL ORDER BY t.rank, i.id DESC", params)
        return (f"SELECT {_prefixed(columns)}, -bm25(search_index) AS score"
                " FROM search_index JOIN interactions i ON i.id = search_index.rowid"
                f" WHERE search_index MATCH ? AND i.erased_at IS NULL{where}"
                " ORDER BY bm25(search_index), i.id DESC LIMIT ?", params)


class PostgresFullText:
    """``tsvector`` in the ``simple`` configuration, a GIN index, ``ts_rank``."""

    @staticmethod
    def match(words: Sequence[Sequence[str]]) -> str:
        return " & ".join("(" + " | ".join(f"'{t}'" for t in group) + ")" for group in words)

    def index(self, cursor: Any, rows: Sequence[tuple[int, str]]) -> None:
        cursor.executemany(
            "INSERT INTO search_index (interaction_id, terms)"
            " VALUES (%s, to_tsvector('simple', %s)) ON CONFLICT (interaction_id)"
            " DO UPDATE SET terms = excluded.terms", rows)

    def unindex(self, cursor: Any, where: str, params: Sequence[Any]) -> int:
        where = where.replace("?", "%s")
        return int(cursor.execute(
            "DELETE FROM search_index WHERE interaction_id IN"
            f" (SELECT id FROM interactions WHERE {where})", params).rowcount)

    def query(self, columns: str, query: SearchQuery, to_us: Any) -> tuple[str, list[Any]]:
        params: list[Any] = [self.match(query.words)]
        where = _filters(query, params, to_us)
        params.append(query.limit)
        if not where:  # rank in the index alone, then read only the rows of the page
            return (f"SELECT {_prefixed(columns)}, t.score FROM (SELECT interaction_id,"
                    " ts_rank(terms, q, 1) AS score FROM to_tsquery('simple', ?) q, search_index"
                    " WHERE terms @@ q ORDER BY score DESC, interaction_id DESC LIMIT ?) t"
                    " JOIN interactions i ON i.id = t.interaction_id"
                    " WHERE i.erased_at IS NULL ORDER BY t.score DESC, i.id DESC", params)
        return (f"SELECT {_prefixed(columns)}, ts_rank(s.terms, q, 1) AS score"
                " FROM to_tsquery('simple', ?) q, search_index s"
                " JOIN interactions i ON i.id = s.interaction_id"
                f" WHERE s.terms @@ q AND i.erased_at IS NULL{where}"
                " ORDER BY score DESC, i.id DESC LIMIT ?", params)
