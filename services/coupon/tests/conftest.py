"""Fixtures for the coupon service's tests: the app on a fresh, migrated database (integration),
tokens, fresh ids and coupons. Unit tests need none of them."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from commerce_kit import db
from commerce_kit.testing import tokens
from commerce_kit.web import ServiceApp
from coupon_service.app import create_app
from coupon_service.bootstrap import CouponDeps
from coupon_service.migrations import MIGRATIONS
from coupon_service.service_layer.issuing import Issuing
from coupon_service.settings import CouponSettings

# Users live in the user service: here a user is just an id, unique per test.
_ids = itertools.count(int(time.time() * 1000) % 10**12)


@pytest.fixture(scope="session")
def settings(test_env: dict[str, Any]) -> CouponSettings:
    # Any: the variables go in by their names, to be parsed as the environment is (the pydantic
    # plugin's __init__ takes field names and parsed values).
    return CouponSettings(**test_env)


@pytest.fixture(scope="session")
def migrated(settings: CouponSettings) -> CouponSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: CouponSettings) -> AsyncIterator[ServiceApp[CouponDeps]]:
    application = create_app(migrated)
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[CouponDeps]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coupon") as c:
        yield c


@pytest.fixture(scope="session")
def pool(app: ServiceApp[CouponDeps]) -> asyncpg.Pool:
    """The service's own pool, to check what the database holds."""
    return app.deps.pool


@pytest.fixture(scope="session")
def issuing(pool: asyncpg.Pool) -> Issuing:
    return Issuing(pool)


@pytest.fixture
def fresh_id() -> Callable[[], int]:
    """A new id (a user, a payment, an order) that no other test uses."""
    return lambda: next(_ids)


WELCOME = {
    "name": "Welcome 10%",
    "discountType": "RATE",
    "discountValue": 10,
    "maxDiscountAmount": 5_000,
    "totalQuantity": 100,
    "validDays": 30,
}


@pytest_asyncio.fixture
async def new_coupon(client: httpx.AsyncClient):
    """Creates a coupon through the admin API (WELCOME, with any field changed) and returns it."""

    async def make(**changes: Any) -> dict[str, Any]:
        answer = await client.post("/api/v1/admin/coupons", json=WELCOME | changes, headers=tokens.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()

    return make


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.fixture(scope="session")
def problem() -> Callable[[httpx.Response, int, str], dict[str, Any]]:
    """`problem(answer, status, code)`: asserts an RFC 9457 answer with that status and code."""
    return assert_problem
