"""The composition root: opens the catalog's resources, builds its use cases on them, and hands them,
typed, to the routes (`Deps`) for as long as the app runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends

from catalog_service.service_layer.cache import ReadCache
from catalog_service.service_layer.products import Products
from catalog_service.service_layer.stock_takes import StockTakes
from catalog_service.settings import CatalogSettings
from commerce_kit.runtime import Runtime
from commerce_kit.web import Started, provider


@dataclass(frozen=True)
class CatalogDeps:
    pool: asyncpg.Pool
    products: Products
    stock_takes: StockTakes


#: A route's parameter for the service's dependencies.
Deps = Annotated[CatalogDeps, Depends(provider(CatalogDeps))]


@asynccontextmanager
async def bootstrap(settings: CatalogSettings) -> AsyncIterator[Started[CatalogDeps]]:
    async with Runtime(settings) as rt:
        pool = await rt.open_pool()
        # Kafka: the outbox relay publishes stock-events, and readiness checks the broker.
        broker = rt.open_broker()
        products = Products(pool, ReadCache(settings.cache_seconds, settings.cache_entries))
        stock_takes = StockTakes(pool, products.forget)
        rt.relay_outbox(pool, broker)
        await rt.start()
        yield Started(CatalogDeps(pool=pool, products=products, stock_takes=stock_takes), rt.readiness())
