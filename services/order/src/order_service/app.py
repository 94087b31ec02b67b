"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from commerce_kit.runtime import Runtime
from commerce_kit.web import install_plain_routes, service_app
from order_service.adapters.catalog import Catalog
from order_service.adapters.coupons import Coupons
from order_service.adapters.payments import Payments
from order_service.entrypoints import http, internal
from order_service.entrypoints.consumers import payment_status_consumer
from order_service.service_layer.expiry import UnpaidOrderExpiry
from order_service.service_layer.orders import Orders
from order_service.settings import OrderSettings


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            rt = await stack.enter_async_context(Runtime(settings, kafka=True))
            token = ServiceToken(settings.jwt_secret, settings.service)

            def client(name: str) -> ServiceClient:
                # Short timeouts (INTERNAL_HTTP_TIMEOUT_SECONDS): a dependency that is down or slow
                # makes POST /orders answer 503 DEPENDENCY_UNAVAILABLE in bounded time, never hang.
                made = ServiceClient(
                    name,
                    settings.service_url(name),
                    token,
                    timeout=settings.http_timeout_seconds,
                    retries=settings.dependency_retries,
                )
                stack.push_async_callback(made.aclose)
                return made

            app.state.pool = rt.pool
            orders = Orders(
                rt.pool, Catalog(client("catalog")), Coupons(client("coupon")), Payments(client("payment"))
            )
            app.state.orders = orders
            rt.consume(payment_status_consumer(orders))
            app.state.expiry = UnpaidOrderExpiry(
                rt.pool,
                timeout_minutes=settings.payment_timeout_minutes,
                batch_size=settings.expiry_batch_size,
            )
            rt.relay_outbox()
            rt.background.every(
                "expire-unpaid-orders", settings.expiry_interval_seconds, app.state.expiry.run
            )
            await rt.start()
            app.state.runtime = rt
            yield

    app = service_app(
        settings,
        title="Order service",
        description="Orders: placing, reading, cancelling, expiry, and the payment saga's steps.",
        lifespan=lifespan,
        routers=[http.router, internal.router],
    )
    install_plain_routes(app, http.router, http.PLAIN_ROUTES)
    install_plain_routes(app, internal.router, internal.PLAIN_ROUTES)
    return app
