"""Use cases of the public catalog: create products, set an option's stock, list the products in
stock and show one product. Reads go through the read cache (see cache.py for its bound); every
write drops the pages it changes once its transaction has committed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from catalog_service.adapters import repository as repo
from catalog_service.domain.errors import OptionNotFound, ProductNotFound
from catalog_service.domain.product import NewProduct, sold_out
from catalog_service.domain.stock import OptionStock, in_stock_deltas
from catalog_service.service_layer.cache import ReadCache
from commerce_contracts.events.stock import StockSet
from commerce_contracts.registry import STOCK_EVENTS
from commerce_kit import outbox
from commerce_kit.paging import decode_id_cursor, page_of


@dataclass(frozen=True)
class Option:
    id: int
    name: str
    price: int
    stock: int


@dataclass(frozen=True)
class ProductDetail:
    id: int
    name: str
    description: str
    sold_out: bool
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ListedProduct:
    id: int
    name: str
    price: int  # the lowest price among the product's options in stock


def _option(row: asyncpg.Record) -> Option:
    return Option(row["id"], row["name"], row["price"], row["stock"])


def _detail(product: asyncpg.Record, options: list[asyncpg.Record]) -> ProductDetail:
    return ProductDetail(
        product["id"],
        product["name"],
        product["description"],
        sold_out(o["stock"] for o in options),
        tuple(_option(o) for o in options),
    )


class Products:
    def __init__(self, pool: asyncpg.Pool, cache: ReadCache) -> None:
        self.pool, self.cache = pool, cache

    def forget(self, product_ids: Iterable[int], *, lists: bool) -> None:
        """Drop the cached pages a committed write changed: the products' details, and the list
        pages when a product entered or left the list or its lowest in-stock price moved (both
        happen only when an option's stock crosses zero)."""
        details = {("detail", p) for p in product_ids}
        self.cache.invalidate(lambda key: key in details or (lists and key[0] == "list"))

    async def create(self, new: NewProduct) -> ProductDetail:
        async with self.pool.acquire() as conn, conn.transaction():
            product, options = await repo.insert_product(conn, new)
            # The initial stock is the admin's first setting of it: consumers of stock-events that
            # keep a copy of the stock learn of the option here.
            await outbox.add_many(
                conn,
                STOCK_EVENTS,
                [
                    StockSet(product_id=o["product_id"], option_id=o["id"], stock_after=o["stock"])
                    for o in options
                ],
            )
        self.forget([product["id"]], lists=new.in_stock_options > 0)
        return _detail(product, options)

    async def set_stock(self, product_id: int, option_id: int, stock: int) -> Option:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.option(conn, option_id, lock=True)
            if row is None or row["product_id"] != product_id:
                if await repo.product(conn, product_id) is None:
                    raise ProductNotFound(f"Product {product_id} does not exist")
                raise OptionNotFound(f"Product {product_id} has no option {option_id}")
            change = OptionStock(option_id, product_id, row["stock"]).set_to(stock)
            await repo.save_stocks(conn, [change])
            await repo.shift_in_stock(conn, in_stock_deltas([change]))
            await outbox.add(
                conn, STOCK_EVENTS, StockSet(product_id=product_id, option_id=option_id, stock_after=stock)
            )
        self.forget([product_id], lists=bool(change.crossing))
        return Option(option_id, row["name"], row["price"], stock)

    async def detail(self, product_id: int) -> ProductDetail:
        return await self.cache.get(("detail", product_id), lambda: self._detail(product_id))

    async def _detail(self, product_id: int) -> ProductDetail:
        async with self.pool.acquire() as conn:
            product = await repo.product(conn, product_id)
            if product is None:
                raise ProductNotFound(f"Product {product_id} does not exist")
            return _detail(product, await repo.options_of(conn, product_id))

    async def listed(self, cursor: str | None, size: int) -> tuple[tuple[ListedProduct, ...], str | None]:
        """Products with at least one option in stock, newest first, cursor-paged."""
        before_id = decode_id_cursor(cursor)
        return await self.cache.get(("list", before_id, size), lambda: self._listed(before_id, size))

    async def _listed(self, before_id: int | None, size: int) -> tuple[tuple[ListedProduct, ...], str | None]:
        async with self.pool.acquire() as conn:
            rows = await repo.listed_products(conn, before_id, size + 1)
        items, next_cursor = page_of(
            [ListedProduct(r["id"], r["name"], r["price"]) for r in rows], size, lambda p: (p.id,)
        )
        return tuple(items), next_cursor  # shared by every reader of the cached page: immutable
