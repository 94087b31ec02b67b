"""The resources one service process owns, opened by its bootstrap (its composition root) and closed,
in reverse order, when the app stops:

    async with Runtime(settings) as rt:
        pool = await rt.open_pool()                       # PostgreSQL, always checked by readiness
        broker = rt.open_broker()                         # Kafka: consumers, the outbox relay
        orders = Orders(pool, ...)                        # the use cases, built on the resources
        rt.consume(broker, Consumer(PAYMENT_COMPLETED, ...))
        rt.relay_outbox(pool, broker)                     # this service publishes through its outbox
        rt.background.every("expire-orders", 30, job)     # any periodic job
        await rt.start()
        yield Started(OrderDeps(...), rt.readiness())

Each `open_*` returns its resource, typed, and adds its readiness check; what a service does not open
it does not have. Nothing connects at import time.
"""

from __future__ import annotations

import contextlib
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from commerce_kit import db, messaging
from commerce_kit.background import Background
from commerce_kit.messaging import BatchConsumer, Broker, Consumer, Subscription
from commerce_kit.outbox import OutboxRelay
from commerce_kit.settings import ServiceSettings
from commerce_kit.web import ReadinessCheck


class Runtime:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.background = Background()
        self.subscriptions: list[Subscription] = []
        self._checks: dict[str, ReadinessCheck] = {}
        self._stack = AsyncExitStack()
        self._brokers: list[Broker] = []
        self._publishers: list[messaging.FastPublisher] = []
        self._relays: list[OutboxRelay] = []
        self._started = False

    async def __aenter__(self) -> Runtime:
        await self._stack.__aenter__()
        return self

    async def open_pool(self, *, custom_plans: bool = False) -> asyncpg.Pool:
        """The service's PostgreSQL pool, its schema first on the search path (`custom_plans`: see
        `db.create_pool`)."""
        s = self.settings
        pool = await db.create_pool(
            s.database_url,
            s.db_schema,
            application_name=f"{s.service}-service",
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            custom_plans=custom_plans,
        )
        self._stack.push_async_callback(pool.close)
        self._checks["postgres"] = lambda: pool.fetchval("SELECT 1")
        return pool

    def open_redis(self) -> aioredis.Redis:
        redis = aioredis.from_url(self.settings.redis_url, max_connections=200, health_check_interval=30)
        self._stack.push_async_callback(redis.aclose)
        self._checks["redis"] = redis.ping
        return redis

    def open_broker(self) -> Broker:
        """Kafka for consumers and the outbox relay (FastStream's broker and the producer every
        publish goes through); it connects in `start()`."""
        s = self.settings
        broker = messaging.create_broker(s, client_id=f"{s.service}-service")
        self._brokers.append(broker)
        self._stack.push_async_callback(_quietly, broker.stop)

        async def kafka() -> None:
            if not await broker.ping(1.5):
                raise ConnectionError("Kafka does not answer")

        self._checks["kafka"] = kafka
        return broker

    def open_publisher(self) -> messaging.FastPublisher:
        """A publisher for a route that publishes itself, without an outbox; it connects in `start()`."""
        s = self.settings
        publisher = messaging.FastPublisher(s, client_id=f"{s.service}-publisher")
        self._publishers.append(publisher)
        self._stack.push_async_callback(_quietly, publisher.stop)
        return publisher

    def consume(self, broker: Broker, consumer: Consumer | BatchConsumer) -> Subscription:
        if self._started:
            raise RuntimeError("consumers are added before start()")
        if isinstance(consumer, BatchConsumer):
            subscription = messaging.subscribe_batch(broker, self.settings, consumer)
        else:
            subscription = messaging.subscribe(broker, self.settings, consumer)
        self.subscriptions.append(subscription)
        return subscription

    def relay_outbox(self, pool: asyncpg.Pool, broker: Broker, **options: Any) -> OutboxRelay:
        relay = OutboxRelay(pool, broker.producer, self.settings, **options)
        self._relays.append(relay)
        return relay

    async def start(self) -> None:
        for publisher in self._publishers:
            await publisher.start()
        for broker in self._brokers:
            await broker.start()
        if self.subscriptions:
            self.background.every("consumer-lag", 1, lambda: messaging.report_lag(self.subscriptions))
        for relay in self._relays:
            self.background.run("outbox-relay", relay.run)
            self.background.every("outbox-gauges", 5, relay.report)
        self._started = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.background.stop()
        finally:
            await self._stack.__aexit__(exc_type, exc, tb)

    def readiness(self) -> dict[str, ReadinessCheck]:
        """The checks of `/health/ready`: one per resource opened."""
        return dict(self._checks)


async def _quietly(stop: Any) -> None:
    # Stopping a client that never connected, or whose server is away, must not hide the error
    # (if any) that is closing the runtime, nor keep the next resource from closing.
    with contextlib.suppress(Exception):
        await stop()
