"""The PostgreSQL store passes the store conformance suite on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hostline import Store
from hostline.testing import StoreConformance
from hostline_postgres import PostgresStore
from hostline_postgres.testing import PostgresDatabase


class TestPostgresConformance(StoreConformance):
    @pytest.fixture
    async def make_store(self, postgres_db: PostgresDatabase
                         ) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
        opened: list[Store] = []

        async def make() -> Store:
            store = PostgresStore(postgres_db.url, schema=postgres_db.schema, pool_max=4)
            await store.open()
            opened.append(store)
            return store

        yield make
        for store in opened:
            await store.close()
