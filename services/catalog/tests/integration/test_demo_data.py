"""`python -m catalog_service demo-data`: a small Korean shop, only into an empty schema."""

import asyncpg
import pytest_asyncio

from catalog_service.demo import DEMO_PRODUCTS, load
from catalog_service.settings import CatalogSettings
from commerce_kit import db
from commerce_kit.db import plain_url


@pytest_asyncio.fixture
async def empty_database(migrated, migrations, namespace):
    """A database of this test's own, migrated and empty, and the settings that point at it."""
    url = plain_url(migrated.database_url)
    server, name = url.rsplit("/", 1)[0], f"commerce_{namespace}_demo"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = migrated.model_copy(update={"database_url": f"{server}/{name}"})
        db.migrate(settings.database_url, settings.db_schema, migrations)
        yield settings
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_demo_shop_is_loaded_into_an_empty_schema_once(empty_database: CatalogSettings):
    await load(empty_database)
    conn = await asyncpg.connect(
        plain_url(empty_database.database_url), server_settings={"search_path": "catalog"}
    )
    try:
        products = await conn.fetch(
            "SELECT p.name, p.in_stock_options, array_agg(o.stock ORDER BY o.id) AS stocks"
            " FROM products p JOIN options o ON o.product_id = p.id GROUP BY p.id ORDER BY p.id"
        )
        assert len(products) == len(DEMO_PRODUCTS) == 8
        assert all(2 <= len(p["stocks"]) <= 4 for p in products)
        assert sum(1 for p in products if all(s == 0 for s in p["stocks"])) == 1  # one sold out
        assert sum(1 for p in products for s in p["stocks"] if s == 0) >= 4  # and a few options at 0
        assert all(p["in_stock_options"] == sum(1 for s in p["stocks"] if s > 0) for p in products)
        assert any("감귤" in p["name"] for p in products)
        await load(empty_database)  # not empty any more: nothing is added
        assert await conn.fetchval("SELECT count(*) FROM products") == 8
    finally:
        await conn.close()
