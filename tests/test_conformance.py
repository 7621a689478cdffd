"""Every backend omnicx ships runs the same conformance suite (`omnicx.testing`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omnicx.storage import MemoryStore, SQLiteStore, Store
from omnicx.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        return MemoryStore


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SQLiteStore(tmp_path / "history.db")


@pytest.mark.postgres
class TestPostgresStore(StoreConformance):
    tenancy_examples = 12  # each example creates four schemas
    @pytest.fixture
    def store_factory(self, postgres_schema: tuple[str, str]) -> Callable[[], Store]:
        from omnicx.storage import PostgresStore

        url, schema = postgres_schema
        return lambda: PostgresStore(url, schema=schema, max_size=4)
