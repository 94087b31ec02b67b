"""How stock changes touch storage: a change that crosses no zero rewrites the option row alone,
as a HOT update (no index entry written), so sale-day takes stay cheap; only a crossing of zero
touches the product row and its listing index."""

import asyncpg
import pytest_asyncio

from catalog_service.adapters import repository as repo
from catalog_service.domain.stock import Line, take_all
from catalog_service.service_layer.stock_takes import StockTakes
from commerce_kit import db


async def apply_take(conn, option_id: int, quantity: int) -> None:
    """The take's own steps: lock the option, decide, write (StockTakes._apply)."""
    options = await repo.option_stocks(conn, [option_id], lock=True)
    decision = take_all(options, (Line(option_id, quantity),))
    await StockTakes._apply(conn, decision.changes)


@pytest_asyncio.fixture
async def fresh_connection(test_database_url, settings):
    """A connection of its own: PostgreSQL 15 counts a backend's not yet reported updates of earlier
    transactions in its pg_stat_get_xact_* too, so a pooled connection would not do."""
    conn = await asyncpg.connect(
        db.plain_url(test_database_url), server_settings={"search_path": settings.db_schema}
    )
    yield conn
    await conn.close()


async def updates_in_this_transaction(conn, table: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT pg_stat_get_xact_tuples_updated($1::regclass) AS updated,"
        " pg_stat_get_xact_tuples_hot_updated($1::regclass) AS hot",
        table,
    )


async def test_a_take_that_crosses_no_zero_is_a_hot_update_of_the_option_alone(new_product, fresh_connection):
    product = await new_product((5_000, 10))
    option = product["options"][0]["id"]
    conn = fresh_connection
    transaction = conn.transaction()
    await transaction.start()
    try:
        await apply_take(conn, option, 3)
        assert tuple(await updates_in_this_transaction(conn, "options")) == (1, 1)
        assert tuple(await updates_in_this_transaction(conn, "products")) == (0, 0)
    finally:
        await transaction.rollback()


async def test_a_take_that_sells_the_option_out_also_moves_the_products_in_stock_count(
    new_product, fresh_connection
):
    product = await new_product((5_000, 3), (6_000, 1))
    option = product["options"][0]["id"]
    conn = fresh_connection
    transaction = conn.transaction()
    await transaction.start()
    try:
        await apply_take(conn, option, 3)
        assert (await updates_in_this_transaction(conn, "products"))["updated"] == 1
        count = await conn.fetchval("SELECT in_stock_options FROM products WHERE id = $1", product["id"])
        assert count == 1
    finally:
        await transaction.rollback()
