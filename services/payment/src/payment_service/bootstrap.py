"""The composition root: opens the service's resources, builds its use cases on them, and hands them,
typed, to the routes (`Deps`) for as long as the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends

from commerce_kit import clients, idempotency, inbox
from commerce_kit.ratelimit import RateLimiter
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider
from payment_service.adapters.services import Services
from payment_service.entrypoints.consumers import DataPlatformDelivery, data_platform_consumer
from payment_service.service_layer.payments import Payments
from payment_service.settings import PaymentSettings


@dataclass(frozen=True)
class PaymentDeps:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    payments: Payments


#: A route's parameter for the service's dependencies.
Deps = Annotated[PaymentDeps, Depends(provider(PaymentDeps))]


@asynccontextmanager
async def bootstrap(settings: PaymentSettings) -> AsyncIterator[Started[PaymentDeps]]:
    async with AsyncExitStack() as stack:
        # Closed after the runtime (its consumers and background jobs use them until it stops).
        services = Services(settings)
        stack.push_async_callback(services.aclose)
        platform = clients.session(settings.data_platform_timeout_seconds)
        stack.push_async_callback(platform.close)
        rt = await stack.enter_async_context(Runtime(settings))
        pool = await rt.open_pool()
        redis = rt.open_redis()
        broker = rt.open_broker()
        payments = Payments(pool, services, settings, RateLimiter(redis, "payments", settings.rate_per_user))
        rt.consume(
            broker,
            data_platform_consumer(
                DataPlatformDelivery(pool, platform, settings.data_platform_url),
                settings.data_platform_attempts,
            ),
        )
        rt.relay_outbox(pool, broker)
        rt.background.every("recover-sagas", settings.recovery_interval_seconds, payments.recover)
        rt.background.every(
            "forget-idempotency-keys",
            3600,
            lambda: idempotency.forget_older_than(pool, settings.idempotency_ttl_hours),
        )
        # The data platform's deliveries, remembered far longer than a topic keeps an event.
        rt.background.every("forget-deliveries", 3600, lambda: inbox.forget_older_than(pool, 30))
        await rt.start()
        yield Started(PaymentDeps(pool=pool, redis=redis, payments=payments), rt.readiness())
