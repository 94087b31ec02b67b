from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import pytest
import pytest_asyncio

from commerce_kit.db import KitTables, create_pool, migrate_kit_tables
from commerce_kit.settings import ServiceSettings
from commerce_kit.testing import topics_of_its_own


class KitSettings(ServiceSettings):
    service = "user"  # any service: the kit's tests only need its settings' shape


@pytest.fixture(scope="session")
def kit_settings(test_env) -> KitSettings:
    return KitSettings(**test_env)


@pytest_asyncio.fixture
async def fresh_topics(infra, namespace) -> AsyncIterator[str]:
    """A topic prefix of this test's own, so that no earlier test's messages reach it."""
    async with topics_of_its_own(infra.kafka_bootstrap, f"{namespace}.{secrets.token_hex(3)}.") as prefix:
        yield prefix


@asynccontextmanager
async def _schema_pool(database_url: str, schema: str, *kit: KitTables) -> AsyncIterator[asyncpg.Pool]:
    await asyncio.to_thread(migrate_kit_tables, database_url, schema, kit)
    pool = await create_pool(database_url, schema, application_name="kit-test")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def schema_pool(test_database_url):
    """`async with schema_pool(schema, *kit) as pool`: a pool on `schema` (first on its search path),
    which holds the kit's tables `kit`, made by the kit's own migrations."""
    return partial(_schema_pool, test_database_url)
