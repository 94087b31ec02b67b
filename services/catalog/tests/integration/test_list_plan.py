"""The product list stays fast at scale (docs/list-query.md): on 100,000 products and 1,000,000
options, the first page and a deep page both start from the partial index products_listed at the
cursor, find each price with one short descent of options_by_product_price, and read no table
from end to end. The rows are the ones a naive aggregate over every option gives."""

import secrets
from pathlib import Path

import asyncpg
import orjson
import pytest
import pytest_asyncio

from catalog_service.adapters.repository import LIST_PAGE
from commerce_kit import db
from commerce_kit.api import MAX_BIGINT

LOAD = Path(__file__).resolve().parents[2] / "docs" / "list-query-load.sql"

NAIVE_PAGE = """
SELECT p.id, p.name, min(o.price) AS price
FROM products p JOIN options o ON o.product_id = p.id AND o.stock > 0
WHERE p.id < $1
GROUP BY p.id ORDER BY p.id DESC LIMIT $2
"""


def nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


async def explain(conn: asyncpg.Connection, before_id: int, limit: int) -> dict:
    raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + LIST_PAGE, before_id, limit)
    return (orjson.loads(raw) if isinstance(raw, str) else raw)[0]


@pytest_asyncio.fixture(scope="module")
async def loaded(test_database_url, migrations):
    """A schema of its own, migrated, with 100,000 products and ~1,000,000 options, analyzed."""
    schema = f"catalog_plan_{secrets.token_hex(3)}"
    db.migrate(test_database_url, schema, migrations)
    conn = await asyncpg.connect(db.plain_url(test_database_url), server_settings={"search_path": schema})
    try:
        await conn.execute(LOAD.read_text())
        assert await conn.fetchval("SELECT count(*) FROM options") > 990_000
        yield conn
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("plan_cache_mode", ["auto", "force_generic_plan"])
async def test_every_page_of_the_list_starts_at_its_cursor_in_the_partial_index(loaded, plan_cache_mode):
    conn = loaded
    # Prepared with parameters as the service runs it; the generic plan is what a long-lived
    # connection may settle on, so it must be as good.
    await conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
    for before_id in (MAX_BIGINT, 50_000, 12):  # the first page, the middle, the last one
        plan = (await explain(conn, before_id, 21))["Plan"]
        every = nodes(plan)
        assert not [n for n in every if n["Node Type"] == "Seq Scan"], orjson.dumps(plan).decode()
        assert not [n for n in every if n["Node Type"] in ("Sort", "Hash", "Aggregate", "Bitmap Heap Scan")]
        listed = [n for n in every if n.get("Index Name") == "products_listed"]
        assert listed and "id <" in listed[0]["Index Cond"]  # starts at the cursor, not the top
        assert {n.get("Index Name") for n in every if n.get("Relation Name") == "options"} == {
            "options_by_product_price"
        }
        # The work does not grow with the depth of the page: a few buffers per product shown.
        buffers = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
        assert buffers < 400, buffers
        rows = await conn.fetch(LIST_PAGE, before_id, 21)
        assert [tuple(r) for r in rows] == [tuple(r) for r in await conn.fetch(NAIVE_PAGE, before_id, 21)]
