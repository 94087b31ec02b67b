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
from commerce_kit.runtime import Runtime
from commerce_kit.web import install_plain_routes, service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()

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

    app = service_app(
        settings,
        title="Catalog service",
        description="Products, their options and stock.",
        lifespan=lifespan,
        routers=[http.router, internal.router],
    )
    http.install_fast_routes(app)
    install_plain_routes(app, internal.router, internal.PLAIN_ROUTES)
    return app
