"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from catalog_service.entrypoints import http, internal
from catalog_service.service_layer.cache import ReadCache
from catalog_service.service_layer.products import Products
from catalog_service.service_layer.stock_takes import StockTakes
from catalog_service.settings import CatalogSettings
from commerce_kit import telemetry
from commerce_kit.auth import TokenVerifier
from commerce_kit.runtime import Runtime
from commerce_kit.web import create_app as create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    telemetry.configure_tracing(settings.service, settings.otel_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Kafka: the outbox relay publishes stock-events, and readiness checks the broker.
        async with Runtime(settings, kafka=True) as rt:
            app.state.pool = rt.pool
            products = Products(rt.pool, ReadCache(settings.cache_seconds, settings.cache_entries))
            app.state.products = products
            app.state.stock_takes = StockTakes(rt.pool, products.forget)
            rt.relay_outbox()
            await rt.start()
            app.state.runtime = rt
            yield

    app = create_service_app(
        title="Catalog service",
        description="Products, their options and stock.",
        version="1.0.0",
        service=settings.service,
        verifier_factory=lambda: TokenVerifier(settings.jwt_secret, issuer=settings.jwt_issuer),
        lifespan=lifespan,
        routers=[http.router, internal.router],
        readiness=lambda app: app.state.runtime.readiness(),
    )
    telemetry.instrument_app(app)
    return app
