"""Storage errors, provoked for real: transient ones propagate, permanent ones quarantine.

A payload that reached `History.receive` is never lost to a storage error
that would repeat on every retry (`omnicx._refusals`): the store refusing
the data (SQLite's SQLITE_TOOBIG, PostgreSQL's index row size limit) keeps
the payload in quarantine with its error, alone in a batch; an error that
may pass (a lock held elsewhere, a statement or lock timeout) propagates as
a ``transient`` `StorageError`, stores nothing and quarantines nothing, so
the provider's retry succeeds once it passes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import omnicx
from omnicx import ConflictError, PayloadError, StorageError
from omnicx.storage import SQLiteStore
from omnicx.testing import WebChatPayloads

# 60 empty attachments: a small body, and an `attachments` column 100 times its
# size (each is stored with every key), which a length limit of 4,000 refuses.
LIMIT = 4000
MANY_ATTACHMENTS = [{} for _ in range(60)]
# An external id longer than PostgreSQL's B-tree index entries may be (~2,700 bytes,
# after compression: so not a repeated character, which compresses to nothing).
LONG_ID = "".join(hashlib.sha256(b"%d" % n).hexdigest() for n in range(100))


@pytest.fixture
def chat() -> WebChatPayloads:
    return WebChatPayloads()


def _refused_by_sqlite(chat: WebChatPayloads, message_id: str) -> tuple[bytes, dict[str, str]]:
    event = chat.message_event(message_id)
    event["attachments"] = MANY_ATTACHMENTS
    body, headers = chat.signed([event])
    assert len(body) < LIMIT
    return body, headers


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[omnicx.History]:
    """A SQLite history whose connection refuses strings and blobs over LIMIT bytes."""
    history = omnicx.open(tmp_path / "history.db")
    history.store.db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)  # type: ignore[attr-defined]
    yield history
    history.close()


# -- permanent: quarantined ------------------------------------------------------------------
def test_sqlite_refusing_a_payload_quarantines_it(limited: omnicx.History,
                                                  chat: WebChatPayloads) -> None:
    body, headers = _refused_by_sqlite(chat, "m1")
    with pytest.raises(PayloadError) as caught:
        limited.receive(chat.channel, body=body, headers=headers)
    assert isinstance(caught.value.__cause__, StorageError)
    assert caught.value.__cause__.transient is False
    (kept,) = limited.quarantine()
    assert kept.id == caught.value.quarantine_id and kept.body == body
    assert kept.error is not None and "string or blob too big" in kept.error
    assert list(limited.contacts) == []  # the refused transaction left nothing

    # Once the store takes it, replay stores it.
    limited.store.db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)  # type: ignore[attr-defined]
    assert limited.replay(kept.id, chat.channel).stored == 1
    assert limited.quarantine() == []


def test_one_refused_payload_in_a_batch_is_quarantined_alone(limited: omnicx.History,
                                                             chat: WebChatPayloads) -> None:
    batch = [chat.message(f"m{n}") for n in range(7)]
    batch[4] = _refused_by_sqlite(chat, "m4")
    receipt = limited.receive_batch(chat.channel, batch, cursor=("import", "7"))
    assert (receipt.stored, receipt.quarantined) == (6, 1)
    assert len(receipt.raw_ids) == 7
    assert limited.cursor("import") == "7"
    (kept,) = limited.quarantine()
    assert kept.body == batch[4][0]
    stored = {i.external_id for i in limited.timeline(next(iter(limited.contacts))).items}
    assert stored == {f"m{n}" for n in range(7) if n != 4}


def test_a_replay_the_store_still_refuses_stays_in_quarantine(limited: omnicx.History,
                                                              chat: WebChatPayloads) -> None:
    body, headers = _refused_by_sqlite(chat, "m1")
    with pytest.raises(PayloadError) as first:
        limited.receive(chat.channel, body=body, headers=headers)
    with pytest.raises(PayloadError) as again:
        limited.replay(first.value.quarantine_id or 0, chat.channel)
    assert again.value.quarantine_id == first.value.quarantine_id
    (kept,) = limited.quarantine()
    assert kept.error is not None and "refused" in kept.error


@pytest.mark.postgres
def test_postgres_refusing_a_payload_quarantines_it(postgres_schema: tuple[str, str],
                                                    chat: WebChatPayloads) -> None:
    url, schema = postgres_schema
    with omnicx.open(url, schema=schema) as history:
        body, headers = chat.message(LONG_ID)
        with pytest.raises(PayloadError) as caught:
            history.receive(chat.channel, body=body, headers=headers)
        cause = caught.value.__cause__
        assert isinstance(cause, StorageError) and cause.transient is False
        assert "SQLSTATE 54000" in str(cause)  # program_limit_exceeded
        (kept,) = history.quarantine()
        assert kept.body == body and kept.error is not None and "54000" in kept.error
        batch = [chat.message("m1"), (body, headers), chat.message("m2")]
        receipt = history.receive_batch(chat.channel, batch)
        assert (receipt.stored, receipt.quarantined) == (2, 1)
        assert len(history.quarantine()) == 2


# -- transient: propagated, nothing kept --------------------------------------------------------
def test_sqlite_lock_held_elsewhere_is_transient(tmp_path: Path, chat: WebChatPayloads) -> None:
    path = tmp_path / "history.db"
    history = omnicx.open(SQLiteStore(path, busy_timeout=0.05, retry_for=0.3))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing, for too long
        body, headers = chat.message("m1")
        with pytest.raises(ConflictError) as caught:
            history.receive(chat.channel, body=body, headers=headers)
        assert caught.value.transient is True
        other.execute("ROLLBACK")
        assert history.quarantine() == []
        assert history.receive(chat.channel, body=body, headers=headers).stored == 1
    finally:
        other.close()
        history.close()


def test_sqlite_full_database_is_transient(tmp_path: Path, chat: WebChatPayloads) -> None:
    """A full disk (here: a page limit, which SQLite reports as SQLITE_FULL) may pass."""
    history = omnicx.open(tmp_path / "history.db")
    conn = history.store.db.conn  # type: ignore[attr-defined]
    try:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")
        body, headers = chat.message("m1", text="x" * 20_000)
        with pytest.raises(StorageError) as caught:
            history.receive(chat.channel, body=body, headers=headers)
        assert caught.value.transient is True and "full" in str(caught.value)
        assert not isinstance(caught.value, PayloadError)
        conn.execute(f"PRAGMA max_page_count = {pages * 1000}")  # space again
        assert history.quarantine() == []
        assert history.receive(chat.channel, body=body, headers=headers).stored == 1
    finally:
        history.close()


@pytest.mark.postgres
@pytest.mark.parametrize(("setting", "error"), [
    ("lock_timeout", ConflictError),  # 55P03, retried until retry_for
    ("statement_timeout", StorageError),  # 57014, not retried: the provider retries
])
def test_postgres_timeouts_are_transient(postgres_schema: tuple[str, str],
                                         chat: WebChatPayloads, setting: str,
                                         error: type[StorageError]) -> None:
    import psycopg

    url, schema = postgres_schema
    options = f"?options=-c%20{setting}%3D100"
    history = omnicx.open(url + options, schema=schema, retry_for=0.3)
    blocker: Any = psycopg.connect(url, autocommit=True)
    try:
        first, second = chat.message("m1"), chat.message("m2")
        history.receive(chat.channel, body=first[0], headers=first[1])
        blocker.execute("BEGIN")  # holds the contact's row, whose chain the next message extends
        blocker.execute(f'SELECT id FROM "{schema}".contacts FOR UPDATE')
        with pytest.raises(error) as caught:
            history.receive(chat.channel, body=second[0], headers=second[1])
        assert caught.value.transient is True
        blocker.execute("ROLLBACK")
        assert history.quarantine() == []
        assert history.receive(chat.channel, body=second[0], headers=second[1]).stored == 1
    finally:
        blocker.close()
        history.close()


# -- through `omnicx serve` -----------------------------------------------------------------------
def test_the_server_answers_503_to_transient_and_keeps_what_is_refused(
        tmp_path: Path, chat: WebChatPayloads) -> None:
    from test_server import exchange

    path = tmp_path / "history.db"
    history = omnicx.open(SQLiteStore(path, busy_timeout=0.05, retry_for=0.2))
    history.store.db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)  # type: ignore[attr-defined]
    app = omnicx.webhook_app(history, [chat.channel])
    other = sqlite3.connect(path, isolation_level=None)
    try:
        refused_body, refused_headers = _refused_by_sqlite(chat, "m1")
        body, headers = chat.message("m2")
        other.execute("BEGIN IMMEDIATE")
        (locked,) = exchange(app, ("POST", "/webchat/test-site", body, headers))
        other.execute("ROLLBACK")
        refused, stored = exchange(
            app, ("POST", "/webchat/test-site", refused_body, refused_headers),
            ("POST", "/webchat/test-site", body, headers))
        assert locked.status_code == 503  # the provider retries, and then it is stored:
        assert (stored.status_code, stored.json()["stored"]) == (200, 1)
        assert refused.status_code == 200 and refused.json()["quarantined"] is not None
        assert [q.body for q in history.quarantine()] == [refused_body]
    finally:
        other.close()
        history.close()


def test_group_commit_quarantines_the_refused_request_alone(limited: omnicx.History,
                                                            chat: WebChatPayloads) -> None:
    """The webhook server's group commit: one refused request, the others stored."""
    from omnicx._group import receive_group
    from omnicx._history import Receipt

    requests = [(chat.channel, *chat.message(f"m{n}")) for n in range(4)]
    requests[2] = (chat.channel, *_refused_by_sqlite(chat, "m2"))
    outcomes = receive_group(limited, requests)
    assert [type(o).__name__ for o in outcomes] == ["Receipt", "Receipt", "PayloadError",
                                                    "Receipt"]
    refused = outcomes[2]
    assert isinstance(refused, PayloadError) and refused.quarantine_id is not None
    assert sum(o.stored for o in outcomes if isinstance(o, Receipt)) == 3
    (kept,) = limited.quarantine()
    assert kept.id == refused.quarantine_id and kept.body == requests[2][1]
