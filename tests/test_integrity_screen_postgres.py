"""verify()'s quick check on PostgreSQL: the database builds the hashed bytes too.

The same history and the same tampering as ``test_integrity_screen.py``
(SQLite), through PostgreSQL's `Transaction.chain_inputs`: an honest history
is vouched for without the record-by-record walk, clear or encrypted, and
each tampered contact (and only it) is handed on to the walk, which names
the problem.
"""

from __future__ import annotations

from typing import Any

import pytest

import omnicx
import omnicx._privacy
from integrity_support import KEY
from omnicx._chain import screen
from omnicx.storage import PostgresStore
from test_integrity_screen import _WHO, RECORDS, TAMPERING, _populated

pytestmark = pytest.mark.postgres

# SQLite spellings, in PostgreSQL's; a text where an integer goes cannot be written here.
_PORTED = {name: (victim, statement.replace("randomblob(32)", "sha256(random()::text::bytea)")
                   .replace("X'00'", "'\\x00'::bytea"))
           for name, (victim, statement) in TAMPERING.items() if name != "text position"}


def _run(url: str, schema: str, statement: str) -> list[Any]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


def _screened(url: str, schema: str) -> tuple[int, set[int]]:
    store = PostgresStore(url, schema=schema)
    try:
        with store.reading() as tx:
            ids = tx.chained_contacts(0, 100)
            inputs = tx.chain_inputs(ids)
            assert inputs is not None  # built by the database, not walked in Python
            return screen(ids, tx.chain_heads(ids), inputs)
    finally:
        store.close()


@pytest.mark.parametrize("key", [None, KEY], ids=["clear", "encrypted"])
def test_an_honest_history_needs_no_slow_walk(
        postgres_schema: tuple[str, str], key: bytes | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, schema = postgres_schema
    _populated(url, key, schema=schema)
    assert _screened(url, schema) == (sum(RECORDS.values()), set())

    def walked(*args: Any) -> None:
        raise AssertionError("an honest contact was walked record by record")

    monkeypatch.setattr(omnicx._privacy, "verify_contact", walked)
    with omnicx.open(url, schema=schema, key=key) as history:
        report = history.verify()
    assert report.ok and report.records == sum(RECORDS.values()) and report.contacts == 4


def test_every_character_json_escapes_is_built_alike(postgres_schema: tuple[str, str]) -> None:
    """Every control character, quotes, backslashes, U+2028, astral planes, U+FFFD."""
    from omnicx.testing import WebChatPayloads

    url, schema = postgres_schema
    chat = WebChatPayloads()
    text = "".join(map(chr, range(1, 32))) + "\"\\/\x7f\u2028\u2029\ufffd\U0001f600é"
    with omnicx.open(url, schema=schema) as history:
        body, headers = chat.signed([chat.message_event("m1", text=text),
                                     chat.message_event("m2", text=text[::-1], sender="agent")])
        history.receive(chat.channel, body=body, headers=headers)
        body, headers = chat.status("m2", "read")
        history.receive(chat.channel, body=body, headers=headers)
    assert _screened(url, schema) == (3, set())


@pytest.mark.parametrize(("victim", "statement"), _PORTED.values(), ids=_PORTED.keys())
def test_each_tampered_contact_is_handed_on(postgres_schema: tuple[str, str], victim: str,
                                            statement: str) -> None:
    url, schema = postgres_schema
    _populated(url, None, schema=schema)
    contact_id = int(_run(url, schema, _WHO[victim])[0][0])
    _run(url, schema, statement)
    intact, suspects = _screened(url, schema)
    assert suspects == {contact_id}
    assert intact == sum(RECORDS.values()) - RECORDS[victim]
    with omnicx.open(url, schema=schema) as history:
        report = history.verify()
    assert {p.contact_id for p in report.problems} == {contact_id}, str(report)


def test_a_caller_that_stops_early_keeps_its_transaction(
        postgres_schema: tuple[str, str]) -> None:
    """chain_inputs streams; stopping early cancels the statement, not the transaction."""
    url, schema = postgres_schema
    _populated(url, None, schema=schema)
    store = PostgresStore(url, schema=schema)
    try:
        for snapshot in (True, False):
            with store.reading(snapshot=snapshot) as tx:
                ids = tx.chained_contacts(0, 100)
                inputs = tx.chain_inputs(ids)
                assert inputs is not None
                first = next(iter(inputs))
                assert len(first) == sum(RECORDS.values())
                inputs.close()  # type: ignore[attr-defined]
                assert set(tx.chain_heads(ids)) == set(ids)  # the transaction goes on
    finally:
        store.close()
