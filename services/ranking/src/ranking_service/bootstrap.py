"""The composition root: opens the ranking service's resources, builds its use cases on them, and hands
them, typed, to the routes (`Deps`) for as long as the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import Depends

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider
from ranking_service.adapters.orders import PaidOrders
from ranking_service.domain.ranking import RankedProduct
from ranking_service.entrypoints.consumers import ranking_consumers
from ranking_service.entrypoints.schedule import backfill_while_pending, rebuild_daily
from ranking_service.service_layer.backfill import Backfill
from ranking_service.service_layer.cache import AnswerCache
from ranking_service.service_layer.popular import PopularProducts
from ranking_service.service_layer.rebuild import Rebuilder
from ranking_service.service_layer.sales import Sales
from ranking_service.settings import RankingSettings


@dataclass(frozen=True)
class RankingDeps:
    pool: asyncpg.Pool
    popular: PopularProducts
    sales: Sales
    rebuilder: Rebuilder


#: A route's parameter for the service's dependencies.
Deps = Annotated[RankingDeps, Depends(provider(RankingDeps))]


@asynccontextmanager
async def bootstrap(
    settings: RankingSettings, clock: Callable[[], datetime]
) -> AsyncIterator[Started[RankingDeps]]:
    """`clock` says what time it is: the calendar days of the ranking and of the daily rebuild."""
    zone = settings.zone
    orders = ServiceClient(
        "order",
        settings.service_url("order"),
        ServiceToken(settings.jwt_secret, settings.service),
        timeout=max(settings.http_timeout_seconds, 10.0),  # a page of 500 orders, not a saga step
        retries=2,
    )
    try:
        async with Runtime(settings) as rt:
            pool = await rt.open_pool()
            # Kafka: the payment events the ranking counts, and readiness checks the broker.
            broker = rt.open_broker()
            cache: AnswerCache[tuple[RankedProduct, ...]] = AnswerCache(settings.cache_ttl_seconds)
            popular = PopularProducts(pool, zone, cache, clock)
            sales = Sales(pool, zone, on_change=cache.clear)
            for consumer in ranking_consumers(sales):
                rt.consume(broker, consumer)
            backfill = Backfill(PaidOrders(orders, settings.backfill_page_size))
            rebuilder = Rebuilder(pool, backfill, zone, clock, settings.rebuild_days, cache.clear)
            if settings.daily_rebuild:
                rt.background.run("daily-rebuild", lambda: rebuild_daily(rebuilder, zone, clock))
            if settings.backfill_on_start:
                rt.background.run(
                    "backfill-on-start",
                    lambda: backfill_while_pending(rebuilder, settings.backfill_retry_seconds),
                )
            await rt.start()
            try:
                deps = RankingDeps(pool=pool, popular=popular, sales=sales, rebuilder=rebuilder)
                yield Started(deps, rt.readiness())
            finally:
                await rebuilder.stop()  # before the pool closes: a run holds one of its connections
    finally:
        await orders.aclose()
