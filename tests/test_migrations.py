"""A history created by an older omnicx opens, migrates and goes on threading."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import omnicx
from omnicx import _vault
from omnicx._feed import FeedStore
from omnicx.storage import Store, _postgres, _sql, _sqlite
from omnicx.storage._base import RawPayload
from omnicx.storage._schema import MIGRATIONS, SCHEMA_VERSION
from omnicx.testing import WebChatPayloads

CHAT = WebChatPayloads()
AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _archive_v1(tx: _sql.SqlTransaction, payloads: Sequence[RawPayload]) -> None:
    """`SqlTransaction.archive` as version 1 wrote (no ``contact_id``)."""
    tx._many("INSERT INTO raw_payloads (id, channel, account, received_at, headers, body,"
             " state, error, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
             [(p.id, p.channel, p.account, _sql.to_us(p.received_at),
               json.dumps(dict(p.headers)), p.body, p.state, p.error, p.sealed)
              for p in payloads])


def check_upgrade(open_store: Callable[[], Store], module: object,
                  thread_index: Callable[[Store], list[str]],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:  # what omnicx's first release created
        patch.setattr(module, "MIGRATIONS", MIGRATIONS[:1])
        # ...and it had no search index to write to.
        patch.setattr("omnicx._ingest.document_terms", lambda subject, text: [])
        # ... and the first release wrote no change feed: its tables came later.
        patch.setattr(FeedStore, "atomic", lambda self, work: self.inner.atomic(work))
        # ... and wrote: interactions without the columns later versions added.
        old_row = _sql.interaction_row
        patch.setattr(_sql, "_INSERT_INTERACTION", _sql._INSERT_INTERACTION.replace(
            ", origin_status)", ")").replace(", ?)", ")"))
        patch.setattr(_sql, "interaction_row", lambda item, seal: old_row(item, seal)[:30])
        patch.setattr(_vault, "origin_status", lambda status: None)  # and chained
        patch.setattr(_sql.SqlTransaction, "archive", _archive_v1)
        with omnicx.History(open_store()) as old:
            body, headers = CHAT.message("m1", at=AT)
            first = old.receive(CHAT.channel, body=body, headers=headers)
            assert old._store.schema_version() == 1
    store = open_store()
    with omnicx.History(store) as history:
        assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]
        assert thread_index(store) == ["contact_id", "channel", "account", "thread_key"]
        body, headers = CHAT.message("m2", at=AT + dt.timedelta(minutes=5))
        later = history.receive(CHAT.channel, body=body, headers=headers)
        (before,), (after,) = first.interactions, later.interactions
        assert after.conversation_id == before.conversation_id  # the session goes on
        assert [i.external_id for i in history.timeline(before.contact_id).items] == ["m2", "m1"]
        # Rows stored before the first status was chained still verify.
        assert history.verify().ok, str(history.verify())
        # Search finds what came after the upgrade, and the rest once reindexed.
        assert [h.interaction.external_id for h in history.search("text")] == ["m2"]
        assert history.reindex_search() == 2
        assert [h.interaction.external_id for h in history.search("text")] == ["m2", "m1"]


def test_a_version_1_sqlite_file_migrates(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def columns(store: Store) -> list[str]:
        assert isinstance(store, _sqlite.SQLiteStore)
        rows = store._conn.execute("PRAGMA index_info(conversations_thread)").fetchall()
        return [row[2] for row in rows]

    check_upgrade(lambda: _sqlite.SQLiteStore(tmp_path / "history.db"), _sqlite, columns,
                  monkeypatch)


@pytest.mark.postgres
def test_a_version_1_postgres_schema_migrates(postgres_schema: tuple[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, schema = postgres_schema

    def columns(store: Store) -> list[str]:
        assert isinstance(store, _postgres.PostgresStore)
        with store._pool.connection() as conn:
            rows = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
                " WHERE i.indexrelid = 'conversations_thread'::regclass"
                " ORDER BY array_position(i.indkey, a.attnum)").fetchall()
        return [row[0] for row in rows]

    check_upgrade(lambda: _postgres.PostgresStore(url, schema=schema), _postgres, columns,
                  monkeypatch)
