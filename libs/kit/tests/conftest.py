from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import pytest
import pytest_asyncio

from commerce_kit.db import create_pool
from commerce_kit.messaging import delete_topics, ensure_topics, suite_topics, topics_under
from commerce_kit.settings import ServiceSettings


class KitSettings(ServiceSettings):
    service = "user"  # any service: the kit's tests only need its settings' shape


@pytest.fixture(scope="session")
def kit_settings(test_env) -> KitSettings:
    return KitSettings(**test_env)


@pytest_asyncio.fixture
async def fresh_topics(infra, namespace) -> AsyncIterator[str]:
    """A topic prefix of this test's own, so that no earlier test's messages reach it (its topics
    are deleted afterwards: left behind, they pile up on the broker, see `delete_topics`)."""
    prefix = f"{namespace}.{secrets.token_hex(3)}."
    await ensure_topics(infra.kafka_bootstrap, suite_topics(prefix))
    yield prefix
    # Every topic under the prefix: a test may have made one of its own (test_outbox's `later.`).
    await delete_topics(infra.kafka_bootstrap, await topics_under(infra.kafka_bootstrap, prefix))


@asynccontextmanager
async def _schema_pool(database_url: str, schema: str, ddl: str) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(ddl)
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema, application_name="kit-test")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def schema_pool(test_database_url):
    """`async with schema_pool(schema, ddl) as pool`: a pool on `schema` (first on its search path),
    after running `ddl`, which creates it."""
    return partial(_schema_pool, test_database_url)
