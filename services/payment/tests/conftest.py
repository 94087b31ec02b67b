"""Fixtures for the payment service's tests. The other services are NOT started here: these tests
cover what the payment service does on its own (its state, its leases, its behaviour when the others
are away, its delivery to the data platform). The saga across the real services is tested end to end
in /tests/e2e."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from commerce_kit import db
from commerce_kit.testing.dataplatform import serving
from commerce_kit.web import ServiceApp
from payment_service.app import create_app
from payment_service.bootstrap import PaymentDeps
from payment_service.migrations import MIGRATIONS
from payment_service.settings import PaymentSettings


def closed_port() -> int:
    """A port nothing listens on: the other services are "down"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def services_away(monkeypatch_session) -> None:
    for name in ("order", "catalog", "user", "coupon"):
        monkeypatch_session.setenv(f"{name.upper()}_SERVICE_URL", f"http://127.0.0.1:{closed_port()}")


@pytest.fixture(scope="session")
def monkeypatch_session():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest_asyncio.fixture(scope="session")
async def platform():
    async with serving() as (stand_in, url):
        yield stand_in, url


@pytest.fixture(scope="session")
def settings(test_env, services_away, platform) -> PaymentSettings:
    _, url = platform
    # Any: the variables go in by their names, to be parsed as the environment is (the pydantic
    # plugin's __init__ takes field names and parsed values).
    variables: dict[str, Any] = {
        **test_env,
        "DATA_PLATFORM_URL": url,
        "INTERNAL_HTTP_TIMEOUT_SECONDS": 0.5,
        "PAYMENT_REQUEST_BUDGET_SECONDS": 2,
        "DATA_PLATFORM_TIMEOUT_SECONDS": 1,
        "PAYMENT_RECOVERY_INTERVAL_SECONDS": 3600,
    }
    found = PaymentSettings(**variables)  # tests call recover() themselves
    db.migrate(found.database_url, found.db_schema, MIGRATIONS)
    return found


@pytest_asyncio.fixture(scope="session")
async def app(settings) -> AsyncIterator[ServiceApp[PaymentDeps]]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[PaymentDeps]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://payment") as c:
        yield c


@pytest.fixture(scope="session")
def pool(app: ServiceApp[PaymentDeps]) -> asyncpg.Pool:
    return app.deps.pool
