"""Wiring: settings, resources and routes, owned by the lifespan (nothing connects at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from commerce_kit.runtime import Runtime
from commerce_kit.web import service_app
from ranking_service.adapters.orders import PaidOrders
from ranking_service.entrypoints import http
from ranking_service.entrypoints.consumers import ranking_consumers
from ranking_service.entrypoints.schedule import backfill_while_pending, rebuild_daily
from ranking_service.service_layer.backfill import Backfill
from ranking_service.service_layer.cache import AnswerCache
from ranking_service.service_layer.popular import PopularProducts
from ranking_service.service_layer.rebuild import Rebuilder
from ranking_service.service_layer.sales import Sales
from ranking_service.settings import RankingSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: RankingSettings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> FastAPI:
    """`clock` says what time it is (tests move it to put each test on calendar days of its own)."""
    settings = settings or RankingSettings()
    zone = settings.zone

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        orders = ServiceClient(
            "order",
            settings.service_url("order"),
            ServiceToken(settings.jwt_secret, settings.service),
            timeout=max(settings.http_timeout_seconds, 10.0),  # a page of 500 orders, not a saga step
            retries=2,
        )
        try:
            async with Runtime(settings, kafka=True) as rt:
                app.state.pool = rt.pool
                cache = AnswerCache(settings.cache_ttl_seconds)
                app.state.popular = PopularProducts(rt.pool, zone, cache, clock)
                sales = Sales(rt.pool, zone, on_change=cache.clear)
                app.state.sales = sales
                for consumer in ranking_consumers(sales):
                    rt.consume(consumer)
                backfill = Backfill(PaidOrders(orders, settings.backfill_page_size))
                rebuilder = Rebuilder(rt.pool, backfill, zone, clock, settings.rebuild_days, cache.clear)
                app.state.rebuilder = rebuilder
                if settings.daily_rebuild:
                    rt.background.run("daily-rebuild", lambda: rebuild_daily(rebuilder, zone, clock))
                if settings.backfill_on_start:
                    rt.background.run(
                        "backfill-on-start",
                        lambda: backfill_while_pending(rebuilder, settings.backfill_retry_seconds),
                    )
                await rt.start()
                app.state.runtime = rt
                try:
                    yield
                finally:
                    await rebuilder.stop()  # before the pool closes: a run holds one of its connections
        finally:
            await orders.aclose()

    app = service_app(
        settings,
        title="Ranking service",
        description="Popular products: sales from the payment events, per-day counts, the daily rebuild.",
        lifespan=lifespan,
        routers=[http.router],
    )
    http.install_fast_route(app)
    return app
