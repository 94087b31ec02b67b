"""Fixtures for the order service's tests: the app on a fresh, migrated database and topic prefix
(integration), orders saved through the service's own use case, and tokens. Unit tests need none.

No catalog or coupon service runs here: the integration tests cover what does not need them, and the
catalog's address points at a port where nothing listens (the dependency-down case). Placing orders
for real is tested end to end (`e2e_pending/`)."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from commerce_kit import db
from commerce_kit.testing import eventually, tokens
from commerce_kit.web import ServiceApp
from order_service.app import create_app
from order_service.bootstrap import OrderDeps
from order_service.domain import placing
from order_service.domain.order import Order
from order_service.domain.placing import CatalogOption, RequestedLine
from order_service.migrations import MIGRATIONS
from order_service.service_layer.expiry import UnpaidOrderExpiry
from order_service.service_layer.orders import Orders
from order_service.settings import OrderSettings

# Unique per test run: tests share one database, so each test works on users and payments of its own.
# Spaced by 1000, so that a test may also use id + 1, id + 2, ... (another user, more payments).
_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000, 1000)


def unique_id() -> int:
    return next(_ids)


async def outbox_drained(pool) -> None:
    """Wait until the relay has published everything. The app is stopped only then: the kit's relay
    can miss its cancellation when it comes in the middle of a publish (asyncio.wait_for, Python
    3.11), and the shutdown would then hang."""

    async def empty() -> bool:
        return await pool.fetchval("SELECT NOT EXISTS (SELECT FROM outbox)")

    await eventually(empty, timeout=30, what="an empty outbox")


@pytest.fixture(scope="session")
def closed_port() -> Iterator[int]:
    """A port where nothing listens: bound but never listening, so connecting is refused at once and
    no other process can take the port while the session runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str], closed_port: int) -> Iterator[OrderSettings]:
    with pytest.MonkeyPatch.context() as env:
        # `service_url(name)` reads <NAME>_SERVICE_URL from the environment when the app starts.
        env.setenv("CATALOG_SERVICE_URL", f"http://127.0.0.1:{closed_port}")
        env.setenv("COUPON_SERVICE_URL", f"http://127.0.0.1:{closed_port}")
        env.setenv("PAYMENT_SERVICE_URL", f"http://127.0.0.1:{closed_port}")
        # The expiry job is run by the tests themselves, never behind their back. Any: the variables go
        # in by their names, to be parsed as the environment is (the pydantic plugin's __init__ takes
        # field names and parsed values).
        variables: dict[str, Any] = {**test_env, "ORDER_EXPIRY_INTERVAL_SECONDS": 3600}
        yield OrderSettings(**variables)


@pytest.fixture(scope="session")
def migrated(settings: OrderSettings) -> OrderSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: OrderSettings) -> AsyncIterator[ServiceApp[OrderDeps]]:
    application = create_app(migrated)
    async with LifespanManager(application):
        yield application
        await outbox_drained(application.deps.pool)


@pytest.fixture(scope="session")
def drain_outbox():
    return outbox_drained


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[OrderDeps]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as c:
        yield c


@pytest.fixture(scope="session")
def pool(app: ServiceApp[OrderDeps]) -> asyncpg.Pool:
    """The service's own pool, to check what the database holds."""
    return app.deps.pool


@pytest.fixture(scope="session")
def orders(app: ServiceApp[OrderDeps]) -> Orders:
    return app.deps.orders


@pytest.fixture(scope="session")
def expiry(app: ServiceApp[OrderDeps]) -> UnpaidOrderExpiry:
    return app.deps.expiry


SHIRT = CatalogOption(
    option_id=101, product_id=10, product_name="T-shirt", option_name="M", price=12_000, stock=50
)
MUG = CatalogOption(
    option_id=201, product_id=20, product_name="Mug", option_name="White", price=8_500, stock=5
)


@pytest.fixture
def new_order(orders):
    """Saves a PENDING_PAYMENT order for `user_id` through the service's own use case (the part after
    the catalog and coupon checks, which need those services: see e2e_pending/), and returns it."""

    async def make(user_id: int, shirts: int = 2, mugs: int = 1) -> Order:
        requested = [RequestedLine(10, 101, shirts)] + ([RequestedLine(20, 201, mugs)] if mugs else [])
        lines = placing.priced_lines(requested, {101: SHIRT, 201: MUG})
        return await orders.record(placing.draft_order(user_id, lines, None))

    return make


# --- helpers, as fixtures (test modules cannot import the conftest under --import-mode=importlib) ---


@pytest.fixture(scope="session")
def assert_problem():
    def check(answer: httpx.Response, status: int, code: str) -> dict:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        body = answer.json()
        assert body["code"] == code and body["status"] == status and body["title"] and body["detail"], body
        return body

    return check


@pytest.fixture(scope="session")
def mark_paid(client):
    """The payment saga's last step, as the payment service sends it."""

    async def send(order_id: int, payment_id: int, headers: dict[str, str] | None = None) -> httpx.Response:
        return await client.put(
            f"/internal/v1/orders/{order_id}/paid",
            json={"paymentId": payment_id, "paidAt": "2026-03-01T12:00:00+00:00"},
            headers=tokens.service() if headers is None else headers,
        )

    return send


@pytest.fixture(scope="session")
def mark_refunded(client):
    async def send(order_id: int, payment_id: int, headers: dict[str, str] | None = None) -> httpx.Response:
        return await client.put(
            f"/internal/v1/orders/{order_id}/refunded",
            json={"paymentId": payment_id},
            headers=tokens.service() if headers is None else headers,
        )

    return send


@pytest.fixture(scope="session")
def status_of(pool):
    async def read(order_id: int) -> str:
        return await pool.fetchval("SELECT status FROM orders WHERE id = $1", order_id)

    return read


@pytest.fixture
def user() -> int:
    """A user id of this test's own."""
    return unique_id()


@pytest.fixture
def payment() -> int:
    """A payment id of this test's own."""
    return unique_id()


@pytest.fixture
def fresh_id():
    """More ids of this test's own, as many as it needs."""
    return unique_id
