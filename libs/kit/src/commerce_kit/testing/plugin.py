"""pytest plugin (registered by commerce-kit's `pytest11` entry point): session fixtures for real
infrastructure. A service's conftest builds its settings from `test_env`."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

from commerce_kit.testing.infra import Infra, choose_mode, docker_infra, local_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    mode = choose_mode()
    with ExitStack() as stack:
        try:
            found = docker_infra(stack) if mode == "docker" else local_infra()
        except RuntimeError as exc:
            pytest.exit(str(exc), returncode=2)
        yield found


@pytest.fixture(scope="session")
def namespace() -> str:
    """A fresh name for this session's database, Redis keys and topics."""
    return "t" + secrets.token_hex(4)


@pytest_asyncio.fixture(scope="session")
async def test_database_url(infra: Infra, namespace: str) -> AsyncIterator[str]:
    import asyncpg

    from commerce_kit.db import plain_url

    parts = urlsplit(plain_url(infra.postgres_url))
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = f"commerce_{namespace}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield urlunsplit(parts._replace(path=f"/{name}"))
    if os.environ.get("TEST_KEEP_DATABASE") != "1":
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest_asyncio.fixture(scope="session")
async def test_redis_url(infra: Infra) -> str:
    """A Redis db of its own (TEST_REDIS_DB, default 15; `make run` uses 0), emptied first."""
    import redis.asyncio as aioredis

    url = f"{infra.redis_url}/{int(os.environ.get('TEST_REDIS_DB', '15'))}"
    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


@pytest_asyncio.fixture(scope="session")
async def test_topic_prefix(infra: Infra, namespace: str) -> AsyncIterator[str]:
    """Every suite topic under a fresh prefix, created before and deleted after the session."""
    from commerce_kit.testing.topics import topics_of_its_own

    async with topics_of_its_own(infra.kafka_bootstrap, f"{namespace}.") as prefix:
        yield prefix


@pytest.fixture(scope="session")
def test_env(
    infra: Infra, test_database_url: str, test_redis_url: str, test_topic_prefix: str
) -> dict[str, str]:
    """The configuration variables (API.md) for this session, as a service reads them."""
    return {
        "APP_ENV": "test",
        "DATABASE_URL": test_database_url,
        "REDIS_URL": test_redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "TOPIC_PREFIX": test_topic_prefix,
    }
