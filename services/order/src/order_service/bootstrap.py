"""The composition root: opens the service's resources, builds its use cases on them, and hands them,
typed, to the routes (`Deps`) for as long as the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider
from order_service.adapters.catalog import Catalog
from order_service.adapters.coupons import Coupons
from order_service.adapters.payments import Payments
from order_service.entrypoints.consumers import payment_status_consumer
from order_service.service_layer.expiry import UnpaidOrderExpiry
from order_service.service_layer.orders import Orders
from order_service.settings import OrderSettings


@dataclass(frozen=True)
class OrderDeps:
    pool: asyncpg.Pool
    orders: Orders
    expiry: UnpaidOrderExpiry


#: A route's parameter for the service's dependencies.
Deps = Annotated[OrderDeps, Depends(provider(OrderDeps))]


@asynccontextmanager
async def bootstrap(settings: OrderSettings) -> AsyncIterator[Started[OrderDeps]]:
    async with AsyncExitStack() as stack:
        rt = await stack.enter_async_context(Runtime(settings))
        pool = await rt.open_pool()
        broker = rt.open_broker()
        token = ServiceToken(settings.jwt_secret, settings.service)

        def client(name: str) -> ServiceClient:
            # Short timeouts (INTERNAL_HTTP_TIMEOUT_SECONDS): a dependency that is down or slow makes
            # POST /orders answer 503 DEPENDENCY_UNAVAILABLE in bounded time, never hang.
            made = ServiceClient(
                name,
                settings.service_url(name),
                token,
                timeout=settings.http_timeout_seconds,
                retries=settings.dependency_retries,
            )
            stack.push_async_callback(made.aclose)
            return made

        orders = Orders(
            pool, Catalog(client("catalog")), Coupons(client("coupon")), Payments(client("payment"))
        )
        expiry = UnpaidOrderExpiry(
            pool, timeout_minutes=settings.payment_timeout_minutes, batch_size=settings.expiry_batch_size
        )
        rt.consume(broker, payment_status_consumer(orders))
        rt.relay_outbox(pool, broker)
        rt.background.every("expire-unpaid-orders", settings.expiry_interval_seconds, expiry.run)
        await rt.start()
        yield Started(OrderDeps(pool=pool, orders=orders, expiry=expiry), rt.readiness())
