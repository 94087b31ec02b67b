"""The resources one service process owns, opened and closed by its FastAPI lifespan:

    async with Runtime(settings, redis=True, kafka=True) as rt:
        app.state.orders = Orders(rt.pool, ...)          # build the use cases on the resources
        rt.consume(Consumer(PAYMENT_COMPLETED, ...))      # reliable consumers (messaging.subscribe)
        rt.relay_outbox()                                 # this service publishes through its outbox
        rt.background.every("expire-orders", 30, job)     # any periodic job
        await rt.start()
        app.state.runtime = rt
        yield

Nothing connects at import time; everything opened here is closed, in reverse order, on the way out.
`readiness()` gives the checks of `/health/ready`: PostgreSQL always, Redis and Kafka when used.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from faststream.kafka import KafkaBroker

from commerce_kit import db, messaging
from commerce_kit.background import Background
from commerce_kit.messaging import BatchConsumer, Consumer, Subscription
from commerce_kit.outbox import OutboxRelay
from commerce_kit.settings import ServiceSettings
from commerce_kit.web import ReadinessCheck


class Runtime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        redis: bool = False,
        kafka: bool = False,
        fast_publisher: bool = False,
        custom_plans: bool = False,
    ) -> None:
        self.settings = settings
        self._wants_redis, self._wants_kafka, self._wants_publisher = redis, kafka, fast_publisher
        self._custom_plans = custom_plans  # see db.create_pool
        self.publisher: messaging.FastPublisher | None = None
        self.pool: asyncpg.Pool = None  # type: ignore[assignment]
        self.redis: aioredis.Redis | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.subscriptions: list[Subscription] = []
        self.background = Background()
        self._started = False

    async def __aenter__(self) -> Runtime:
        s = self.settings
        self.pool = await db.create_pool(
            s.database_url,
            s.db_schema,
            application_name=f"{s.service}-service",
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            custom_plans=self._custom_plans,
        )
        if self._wants_redis:
            self.redis = aioredis.from_url(s.redis_url, max_connections=200, health_check_interval=30)
        if self._wants_kafka:
            self.broker = messaging.create_broker(s, client_id=f"{s.service}-service")
        if self._wants_publisher:
            self.publisher = messaging.FastPublisher(s, client_id=f"{s.service}-publisher")
        return self

    def consume(self, consumer: Consumer | BatchConsumer) -> Subscription:
        assert self.broker is not None and not self._started, "consumers are added before start()"
        if isinstance(consumer, BatchConsumer):
            subscription = messaging.subscribe_batch(self.broker, self.settings, consumer)
        else:
            subscription = messaging.subscribe(self.broker, self.settings, consumer)
        self.subscriptions.append(subscription)
        return subscription

    def relay_outbox(self, **options: Any) -> OutboxRelay:
        assert self.broker is not None, "the outbox relay publishes to Kafka: Runtime(kafka=True)"
        self.relay = OutboxRelay(self.pool, self.broker, self.settings, **options)
        return self.relay

    async def start(self) -> None:
        if self.publisher is not None:
            await self.publisher.start()
        if self.broker is not None:
            await self.broker.start()
            if self.subscriptions:
                self.background.every("consumer-lag", 1, lambda: messaging.report_lag(self.subscriptions))
        if self.relay is not None:
            self.background.run("outbox-relay", self.relay.run)
            self.background.every("outbox-gauges", 5, self.relay.report)
        self._started = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.background.stop()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.pool.close()

    def readiness(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {"postgres": lambda: self.pool.fetchval("SELECT 1")}
        if self.redis is not None:
            redis = self.redis
            checks["redis"] = lambda: redis.ping()
        if self.broker is not None:
            broker = self.broker

            async def kafka() -> None:
                if not await broker.ping(timeout=1.5):
                    raise ConnectionError("Kafka does not answer")

            checks["kafka"] = kafka
        return checks
