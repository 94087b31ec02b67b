"""Fixtures for the user service's tests: the app on a fresh, migrated database (integration), and
tokens. Unit tests need none of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from commerce_kit import db
from commerce_kit.testing import tokens
from commerce_kit.web import ServiceApp
from user_service.app import create_app
from user_service.bootstrap import UserDeps
from user_service.migrations import MIGRATIONS
from user_service.settings import UserSettings


@pytest.fixture(scope="session")
def settings(test_env: dict[str, Any]) -> UserSettings:
    # Any: the variables go in by their names, to be parsed as the environment is (the pydantic
    # plugin's __init__ takes field names and parsed values).
    return UserSettings(**test_env)


@pytest.fixture(scope="session")
def migrated(settings: UserSettings) -> UserSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: UserSettings) -> AsyncIterator[ServiceApp[UserDeps]]:
    application = create_app(migrated)
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[UserDeps]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://user") as c:
        yield c


@pytest.fixture(scope="session")
def pool(
    app: ServiceApp[UserDeps],
) -> asyncpg.Pool:  # the service's own pool, to check what the database holds
    return app.deps.pool


@pytest_asyncio.fixture
async def new_user(client: httpx.AsyncClient):
    """Creates a fresh user (unique per test) and returns its id."""

    async def make(name: str = "Tester") -> int:
        answer = await client.post("/api/v1/admin/users", json={"name": name}, headers=tokens.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    return make
