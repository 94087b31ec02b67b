"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from commerce_kit import clients, idempotency, inbox
from commerce_kit.ratelimit import RateLimiter
from commerce_kit.runtime import Runtime
from commerce_kit.web import install_plain_routes, service_app
from payment_service.adapters.services import Services
from payment_service.entrypoints import http, internal
from payment_service.entrypoints.consumers import DataPlatformDelivery, data_platform_consumer
from payment_service.service_layer.payments import Payments
from payment_service.settings import PaymentSettings


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    settings = settings or PaymentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        platform = clients.session(settings.data_platform_timeout_seconds)
        try:
            async with Runtime(settings, redis=True, kafka=True) as rt:
                payments = Payments(rt.pool, services, settings)
                app.state.payments = payments
                assert rt.redis is not None
                app.state.rate_limiter = RateLimiter(rt.redis, "payments", settings.rate_per_user)
                rt.consume(
                    data_platform_consumer(
                        DataPlatformDelivery(rt.pool, platform, settings.data_platform_url),
                        settings.data_platform_attempts,
                    )
                )
                rt.relay_outbox()
                rt.background.every("recover-sagas", settings.recovery_interval_seconds, payments.recover)
                rt.background.every(
                    "forget-idempotency-keys",
                    3600,
                    lambda: idempotency.forget_older_than(rt.pool, settings.idempotency_ttl_hours),
                )
                # The data platform's deliveries, remembered far longer than a topic keeps an event.
                rt.background.every("forget-deliveries", 3600, lambda: inbox.forget_older_than(rt.pool, 30))
                await rt.start()
                app.state.runtime = rt
                yield
        finally:
            await platform.close()
            await services.aclose()

    app = service_app(
        settings,
        title="Payment service",
        description="The payment saga across catalog, user, coupon and order; refunds; the data platform.",
        lifespan=lifespan,
        routers=[http.router, internal.router],
    )
    install_plain_routes(app, http.router, http.PLAIN_ROUTES)
    install_plain_routes(app, internal.router, internal.PLAIN_ROUTES)
    return app
