"""Shared fixtures, and the policy for tests that need PostgreSQL.

PostgreSQL tests use ``OMNICX_TEST_POSTGRES`` (default: the local server
``postgresql://postgres@127.0.0.1:5432/test``). When it cannot be reached
they are skipped with the reason, unless ``OMNICX_REQUIRE_POSTGRES=1`` (set
by ``.ci/run``), in which case they fail: CI must never pass by skipping.
Each test gets a schema of its own, dropped afterwards, so runs in parallel
never see each other's rows.
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import omnicx

sys.path.insert(0, str(Path(__file__).parent))  # the tests' own helper modules

# Speed is measured in benchmarks/, never asserted by a test: hypothesis's
# per-example deadline would turn a loaded machine (CI, or neighbours on a
# shared one) into failures that say nothing about the code.
settings.register_profile("omnicx", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("omnicx")

POSTGRES_URL = os.environ.get("OMNICX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def _probe() -> str:
    """``""`` when PostgreSQL answers, else why not (probed once per run)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'omnicx[postgres]')"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(exc).strip()}"
    return ""


def require_postgres() -> str:
    """The PostgreSQL URL to test against; skips (or fails, in CI) when unreachable."""
    problem = _probe()
    if problem:
        if os.environ.get("OMNICX_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"OMNICX_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(f"{problem}; set OMNICX_TEST_POSTGRES to test against PostgreSQL")
    return POSTGRES_URL


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        # The schema and its tenants' schemas (``<schema>__<tenant>``, docs/tenancy.md).
        names = [schema, *(row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
            (f"{schema}__",)))]
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(url, schema)``: a fresh, empty schema name on the test server, dropped after."""
    url = require_postgres()
    schema = f"omnicx_test_{uuid.uuid4().hex[:12]}"
    yield url, schema
    drop_schema(url, schema)


@pytest.fixture
def history(tmp_path: Path) -> Iterator[omnicx.History]:
    """A fresh SQLite-file history."""
    with omnicx.open(tmp_path / "history.db") as opened:
        yield opened


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend_history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[omnicx.History]:
    """A fresh history with an encryption key on each backend: memory, SQLite, PostgreSQL."""
    from omnicx.storage import MemoryStore, SQLiteStore

    if request.param == "memory":
        store: omnicx.storage.Store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "backend.db")
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        from omnicx.storage._postgres import PostgresStore

        store = PostgresStore(url, schema=schema)
    with omnicx.open(store, key=b"b" * 32) as history:
        yield history
