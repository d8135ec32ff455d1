"""The SQLite store passes the store conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hostline import SQLiteStore, Store
from hostline.testing import StoreConformance


class TestSQLiteConformance(StoreConformance):
    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
        opened: list[Store] = []

        async def make() -> Store:
            store = SQLiteStore(tmp_path / "state" / "hostline.sqlite3")
            await store.open()
            opened.append(store)
            return store

        yield make
        for store in opened:
            await store.close()
