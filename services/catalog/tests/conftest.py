"""Fixtures for the catalog service's tests: the app on a fresh, migrated database with the session's
own Kafka topics (integration), tokens, and small builders. Unit tests need none of them."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from catalog_service.app import create_app
from catalog_service.bootstrap import CatalogDeps
from catalog_service.migrations import MIGRATIONS
from catalog_service.settings import CatalogSettings
from commerce_kit import db
from commerce_kit.testing import tokens
from commerce_kit.web import ServiceApp


@pytest.fixture(scope="session")
def settings(test_env: dict[str, Any]) -> CatalogSettings:
    # Any: the variables go in by their names, to be parsed as the environment is (the pydantic
    # plugin's __init__ takes field names and parsed values).
    return CatalogSettings(**test_env)


@pytest.fixture(scope="session")
def migrations() -> db.Migrations:
    return MIGRATIONS


@pytest.fixture(scope="session")
def migrated(settings: CatalogSettings) -> CatalogSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: CatalogSettings) -> AsyncIterator[ServiceApp[CatalogDeps]]:
    application = create_app(migrated)
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[CatalogDeps]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as c:
        yield c


@pytest_asyncio.fixture(scope="session")
async def other_instance(migrated: CatalogSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second catalog instance on the same database, as a second replica would be:
    its writes cannot drop the first instance's cached pages."""
    application = create_app(migrated)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog-2") as c:
            yield c


@pytest.fixture(scope="session")
def pool(app: ServiceApp[CatalogDeps]) -> asyncpg.Pool:
    """The service's own pool, to check what the database holds."""
    return app.deps.pool


@pytest_asyncio.fixture
async def new_product(client: httpx.AsyncClient):
    """Creates a product through the admin API and returns its detail (JSON). `options` are
    (price, stock) pairs, named in order."""

    async def make(*options: tuple[int, int], name: str = "테스트 상품") -> dict:
        body = {
            "name": name,
            "description": "테스트용",
            "options": [{"name": f"옵션 {i}", "price": p, "stock": s} for i, (p, s) in enumerate(options, 1)],
        }
        answer = await client.post("/api/v1/admin/products", json=body, headers=tokens.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()

    return make


@pytest_asyncio.fixture
async def set_stock(client: httpx.AsyncClient):
    async def put(product: dict, option: dict, stock: int) -> dict:
        answer = await client.put(
            f"/api/v1/admin/products/{product['id']}/options/{option['id']}/stock",
            json={"stock": stock},
            headers=tokens.admin(),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    return put


_payment_ids = itertools.count(int(time.time() * 1000) % 10**12)


@pytest.fixture
def payment_id():
    """A fresh payment id per call."""
    return lambda: next(_payment_ids)


@pytest_asyncio.fixture
async def take(client: httpx.AsyncClient):
    """PUT /internal/v1/stock-takes/{paymentId} with (optionId, quantity) lines; returns the answer."""

    async def put(pid: int, *lines: tuple[int, int], headers: dict | None = None) -> httpx.Response:
        return await client.put(
            f"/internal/v1/stock-takes/{pid}",
            json={"lines": [{"optionId": o, "quantity": q} for o, q in lines]},
            headers=tokens.service() if headers is None else headers,
        )

    return put


@pytest_asyncio.fixture
async def give_back(client: httpx.AsyncClient):
    async def put(pid: int) -> httpx.Response:
        return await client.put(f"/internal/v1/stock-takes/{pid}/give-back", headers=tokens.service())

    return put


@pytest.fixture
def stock_of(pool):
    async def read(option_id: int) -> int:
        return await pool.fetchval("SELECT stock FROM options WHERE id = $1", option_id)

    return read
