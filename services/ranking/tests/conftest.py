"""Fixtures for the ranking service's tests: the app on a fresh, migrated database and a real broker
(integration), with a clock the tests move so that each test has calendar days of its own; events
to publish. Unit tests need none of them."""

from __future__ import annotations

import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit import db
from commerce_kit.messaging import create_broker, publish
from commerce_kit.testing import eventually, tokens
from commerce_kit.web import ServiceApp
from ranking_service.app import create_app
from ranking_service.bootstrap import RankingDeps
from ranking_service.migrations import MIGRATIONS
from ranking_service.settings import RankingSettings

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


# --- the order service is not running here -------------------------------------------------------
# The backfill from the order service's paid orders is tested end to end, with the real order service,
# in /tests/e2e/test_ranking.py. Here the order service's address answers nothing, and the schema's
# backfill is marked done, so that rebuilds recompute from the stored sales only.


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# --- the service ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str], monkeypatch_session: pytest.MonkeyPatch) -> RankingSettings:
    monkeypatch_session.setenv("ORDER_SERVICE_URL", f"http://127.0.0.1:{closed_port()}")
    # The tests trigger every rebuild themselves. Any: the variables go in by their names, to be parsed
    # as the environment is (the pydantic plugin's __init__ takes field names and parsed values).
    variables: dict[str, Any] = {
        **test_env,
        "RANKING_DAILY_REBUILD": False,
        "RANKING_BACKFILL_ON_START": False,
    }
    return RankingSettings(**variables)


@pytest_asyncio.fixture(scope="session")
async def migrated(settings: RankingSettings) -> RankingSettings:
    db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
    conn = await asyncpg.connect(db.plain_url(settings.database_url))
    try:
        await conn.execute("UPDATE rankings.backfill SET status = 'DONE'")
    finally:
        await conn.close()
    return settings


@pytest_asyncio.fixture(scope="session")
async def app(migrated: RankingSettings, clock: Clock) -> AsyncIterator[ServiceApp[RankingDeps]]:
    application = create_app(migrated, clock=clock)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app: ServiceApp[RankingDeps]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ranking") as c:
        yield c


@pytest.fixture(scope="session")
def pool(app: ServiceApp[RankingDeps]) -> asyncpg.Pool:
    """The service's own pool, to check what the database holds."""
    return app.deps.pool


@pytest.fixture(scope="session")
def another_instance(migrated: RankingSettings, clock: Clock):
    """`async with another_instance() as (app, client)`: a second instance of the service (its own
    pool, consumers, cache and rebuilder) on the same database, broker and clock."""

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[tuple[ServiceApp[RankingDeps], httpx.AsyncClient]]:
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
            items=tuple(
                PaidLine(product_id=p, option_id=p * 10, quantity=q, unit_price=1000, product_name=n)
                for p, q, n in items
            ),
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


class HeldCounts:
    """After `hold()`, another session holds the per-day counts table (EXCLUSIVE: reads still pass),
    so a rebuild that starts waits on it: it is surely still running while the test looks, until
    `release()`."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.transaction, self.released = conn, conn.transaction(), False

    async def hold(self) -> None:
        await self.transaction.start()
        await self.conn.execute("LOCK TABLE rankings.product_day_sales IN EXCLUSIVE MODE")

    async def waiting(self) -> int:
        """Sessions waiting for the table (a running rebuild is one)."""
        return await self.conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE relation = 'rankings.product_day_sales'::regclass"
            " AND NOT granted"
        )

    async def release(self) -> None:
        if not self.released and self.conn.is_in_transaction():
            self.released = True
            await self.transaction.commit()


@pytest_asyncio.fixture
async def held_counts(migrated: RankingSettings) -> AsyncIterator[HeldCounts]:
    conn = await asyncpg.connect(db.plain_url(migrated.database_url))
    held = HeldCounts(conn)
    try:
        yield held
    finally:
        await held.release()
        await conn.close()
