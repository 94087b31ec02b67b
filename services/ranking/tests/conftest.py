"""Fixtures for the ranking service's tests: the app on a fresh, migrated database and a real broker
(integration), with a clock the tests move so that each test has calendar days of its own; events
to publish; a stand-in for the order service's paid-orders API. Unit tests need none of them.

tests/e2e_pending holds an end-to-end test for /tests/e2e (it needs the whole suite): not collected
here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
import uvicorn
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import ranking_service
from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit import db
from commerce_kit.auth import TokenVerifier
from commerce_kit.errors import AppError
from commerce_kit.messaging import create_broker, publish
from commerce_kit.settings import LOCAL_JWT_SECRET
from commerce_kit.testing import eventually, tokens
from ranking_service.app import create_app
from ranking_service.settings import RankingSettings

collect_ignore = ["e2e_pending"]

MIGRATIONS = Path(ranking_service.__file__).parent / "migrations"
SEOUL = ZoneInfo("Asia/Seoul")

# Ids of payments, orders, products and users: unique in the session (its database and topics are new).
_ids = itertools.count(1_000)
# Test k lives on day FIRST_DAY + 40 k: 40 > 30 days apart, so no window of one test reaches another's.
FIRST_DAY = date(2001, 1, 1)
_days = itertools.count()


def at(day: date, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    """An instant given as a wall-clock time in Asia/Seoul."""
    return datetime.combine(day, time(hh, mm, ss), tzinfo=SEOUL)


class Clock:
    """The service's `now`, which tests move."""

    def __init__(self) -> None:
        self.now = at(FIRST_DAY)

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture
def today(clock: Clock) -> date:
    """A calendar day (Asia/Seoul) of this test's own; the service's clock is at its noon."""
    day = FIRST_DAY + timedelta(days=40 * (1 + next(_days)))
    clock.now = at(day)
    return day


@pytest.fixture
def fresh_id() -> Callable[[], int]:
    return lambda: next(_ids)


# --- the order service's paid orders: a stand-in serving the documented contract -----------------


class OrderStandIn:
    """`GET /internal/v1/orders/paid?cursor=&size=` (being added to the order service by the lead), as
    docs say it answers, over the list `orders`: a real HTTP server that checks the SERVICE token
    and pages with an opaque cursor. From the `fail_from_request`-th request (1-based) on, it answers
    500; while `hold` is set, requests wait until it is released (a slow order service)."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.cursors_asked: list[str | None] = []
        self.fail_from_request: int | None = None
        self.hold: asyncio.Event | None = None
        self.waiting = 0
        self._verifier = TokenVerifier(LOCAL_JWT_SECRET)

    def reset(self, orders: list[dict[str, Any]] | None = None) -> None:
        self.orders, self.cursors_asked, self.fail_from_request = orders or [], [], None
        self.hold, self.waiting = None, 0

    def app(self) -> Starlette:
        async def paid(request: Request) -> JSONResponse:
            try:
                self._verifier.from_header(request.headers.get("authorization")).require_service()
            except AppError as refused:
                return JSONResponse(refused.problem(), status_code=refused.status)
            if self.hold is not None:
                self.waiting += 1
                await self.hold.wait()
            cursor = request.query_params.get("cursor")
            self.cursors_asked.append(cursor)
            if self.fail_from_request is not None and len(self.cursors_asked) >= self.fail_from_request:
                return JSONResponse({"code": "INTERNAL_ERROR", "detail": "a bad day"}, status_code=500)
            size = int(request.query_params["size"])
            start = int(base64.urlsafe_b64decode(cursor)) if cursor else 0
            end = start + size
            more = end < len(self.orders)
            return JSONResponse(
                {
                    "items": self.orders[start:end],
                    "nextCursor": base64.urlsafe_b64encode(str(end).encode()).decode() if more else None,
                }
            )

        return Starlette(routes=[Route("/internal/v1/orders/paid", paid)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest_asyncio.fixture(scope="session")
async def order_service(monkeypatch_session: pytest.MonkeyPatch) -> AsyncIterator[OrderStandIn]:
    stand_in, port = OrderStandIn(), free_port()
    server = uvicorn.Server(
        uvicorn.Config(stand_in.app(), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), timeout=10, what="the order stand-in")
    monkeypatch_session.setenv("ORDER_SERVICE_URL", f"http://127.0.0.1:{port}")
    yield stand_in
    server.should_exit = True
    await task


@pytest_asyncio.fixture
async def pending_backfill(order_service: OrderStandIn, pool: Any) -> AsyncIterator[OrderStandIn]:
    """The backfill as a schema that starts empty has it (PENDING), for one test; the order stand-in
    serves what the test gives it. Afterwards the backfill is DONE again, so that other tests'
    rebuilds do not backfill."""
    await pool.execute("UPDATE backfill SET status = 'PENDING', cursor = NULL, pages = 0, sales = 0")
    order_service.reset()
    yield order_service
    if order_service.hold is not None:
        order_service.hold.set()
    order_service.reset()
    await pool.execute("UPDATE backfill SET status = 'DONE', cursor = NULL")


# --- the service ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str], order_service: OrderStandIn) -> RankingSettings:
    # The tests trigger every rebuild themselves.
    return RankingSettings(**test_env, RANKING_DAILY_REBUILD=False, RANKING_BACKFILL_ON_START=False)


@pytest.fixture(scope="session")
def migrated(settings: RankingSettings) -> RankingSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: RankingSettings, clock: Clock) -> AsyncIterator[Any]:
    application = create_app(migrated, clock=clock)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ranking") as c:
        yield c


@pytest.fixture(scope="session")
def pool(app: Any):  # the service's own pool, to check what the database holds
    return app.state.pool


@pytest.fixture(scope="session")
def another_instance(migrated: RankingSettings, clock: Clock):
    """`async with another_instance() as (app, client)`: a second instance of the service (its own
    pool, consumers, cache and rebuilder) on the same database, broker and clock."""

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        second = create_app(migrated, clock=clock)
        async with LifespanManager(second, startup_timeout=60, shutdown_timeout=60):
            transport = httpx.ASGITransport(app=second)
            async with httpx.AsyncClient(transport=transport, base_url="http://ranking-2") as c:
                yield second, c

    return start


@pytest.fixture(scope="session")
def read_popular(client: httpx.AsyncClient):
    """`await read_popular(days=3, limit=5)`: the items of GET /products/popular, asked by a user."""

    async def read(days: int | None = None, limit: int | None = None, via: httpx.AsyncClient = client):
        params = {k: v for k, v in (("days", days), ("limit", limit)) if v is not None}
        answer = await via.get("/api/v1/products/popular", params=params, headers=tokens.bearer(7))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    return read


@pytest.fixture(scope="session")
def rebuilt(client: httpx.AsyncClient):
    """`await rebuilt()`: trigger a rebuild as an admin and wait for it to end; returns the run."""

    async def rebuild(via: httpx.AsyncClient = client) -> dict[str, Any]:
        answer = await via.post("/api/v1/admin/rankings/rebuild", headers=tokens.admin())
        assert answer.status_code == 202 and answer.json()["status"] == "STARTED", answer.text
        return await finished(via, answer.json()["runId"])

    return rebuild


async def finished(client: httpx.AsyncClient, run_id: int, interval: float = 0.05) -> dict[str, Any]:
    async def ended():
        run = (await client.get(f"/api/v1/admin/rankings/rebuilds/{run_id}", headers=tokens.admin())).json()
        return run if run["status"] != "RUNNING" else None

    return await eventually(ended, timeout=60, interval=interval, what=f"rebuild run {run_id} ended")


@pytest.fixture(scope="session")
def run_ended():
    return finished


# --- events ---------------------------------------------------------------------------------------


class Events:
    """Builds PaymentCompleted / PaymentRefunded events and publishes them to this session's topics."""

    def __init__(self, broker: Any, settings: RankingSettings, pool: Any) -> None:
        self.broker, self.settings, self.pool = broker, settings, pool

    @staticmethod
    def paid(
        lines: dict[int, int] | list[tuple[int, int, str | None]],
        paid_at: datetime,
        *,
        order_id: int | None = None,
        payment_id: int | None = None,
    ) -> PaymentCompleted:
        """`lines`: {product: quantity}, or [(product, quantity, name)]."""
        items = [(p, q, f"Name of {p}") for p, q in lines.items()] if isinstance(lines, dict) else lines
        return PaymentCompleted(
            payment_id=payment_id or next(_ids),
            order_id=order_id or next(_ids),
            user_id=next(_ids),
            amount=sum(q * 1000 for _, q, _ in items),
            items=[
                PaidLine(product_id=p, option_id=p * 10, quantity=q, unit_price=1000, product_name=n)
                for p, q, n in items
            ],
            paid_at=paid_at,
        )

    @staticmethod
    def refunded(sale: PaymentCompleted, refunded_at: datetime | None = None) -> PaymentRefunded:
        return PaymentRefunded(
            payment_id=sale.payment_id,
            order_id=sale.order_id,
            user_id=sale.user_id,
            amount=sale.amount,
            items=sale.items,
            paid_at=sale.paid_at,
            refunded_at=refunded_at or sale.paid_at + timedelta(hours=1),
        )

    async def publish(self, *events: PaymentCompleted | PaymentRefunded) -> None:
        for event in events:
            topic = PAYMENT_REFUNDED if isinstance(event, PaymentRefunded) else PAYMENT_COMPLETED
            await publish(self.broker, self.settings, topic, event)

    async def settle(self, *order_ids: int) -> None:
        """Wait until everything published so far under these order ids has been handled: a marker
        sale and a marker refund go after them on the same partitions (the key is the order id), and
        a partition is handled in order. The markers are on a day no window reaches."""
        markers = []
        for order_id in order_ids:
            sale = self.paid({1: 1}, at(date(2000, 1, 1)), order_id=order_id)
            refund = self.refunded(self.paid({1: 1}, at(date(2000, 1, 1)), order_id=order_id))
            await self.publish(sale, refund)
            markers += [sale.payment_id, refund.payment_id]

        async def handled() -> bool:
            found = await self.pool.fetchval(
                "SELECT count(*) FROM sales WHERE payment_id = ANY($1::bigint[])", markers
            )
            return found == len(markers)

        await eventually(handled, timeout=60, what="the markers handled")


@pytest_asyncio.fixture(scope="session")
async def events(settings: RankingSettings, pool: Any) -> AsyncIterator[Events]:
    broker = create_broker(settings, client_id="ranking-test-producer")
    await broker.start()
    yield Events(broker, settings, pool)
    await broker.stop()


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


@pytest.fixture(scope="session")
def seoul() -> Callable[..., datetime]:
    """`seoul(day, hh, mm, ss)`: an instant given as a wall-clock time in Asia/Seoul."""
    return at
