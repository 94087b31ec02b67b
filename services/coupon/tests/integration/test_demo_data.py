"""Demo data (`python -m coupon_service demo-data`): loaded only into an empty schema."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio

from commerce_kit import db
from coupon_service import demo
from coupon_service.migrations import MIGRATIONS
from coupon_service.settings import CouponSettings


@pytest_asyncio.fixture
async def empty_settings(test_env, test_database_url):
    """Settings on a database of this test's own, migrated and empty."""
    parts = urlsplit(test_database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = f"{parts.path.lstrip('/')}_demo"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        settings = CouponSettings(
            **(test_env | {"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))})
        )
        db.migrate(settings.database_url, settings.db_schema, MIGRATIONS)
        yield settings
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_demo_data_loads_the_two_coupons_and_the_welcome_copies_once(empty_settings):
    await demo.load(empty_settings)
    await demo.load(empty_settings)  # the schema is no longer empty: nothing more
    conn = await asyncpg.connect(
        db.plain_url(empty_settings.database_url), server_settings={"search_path": "coupons"}
    )
    try:
        coupons = await conn.fetch("SELECT * FROM coupons ORDER BY id")
        copies = await conn.fetch("SELECT user_id, coupon_id FROM user_coupons ORDER BY user_id")
    finally:
        await conn.close()
    welcome, sale_day = coupons
    assert (
        welcome["name"],
        welcome["discount_type"],
        welcome["discount_value"],
        welcome["max_discount_amount"],
        welcome["total_quantity"],
        welcome["valid_days"],
    ) == ("Welcome 10%", "RATE", 10, 5_000, 1_000, 30)
    assert welcome["issue_start_at"] is None and welcome["issue_end_at"] is None
    assert (
        sale_day["name"],
        sale_day["discount_type"],
        sale_day["discount_value"],
        sale_day["max_discount_amount"],
        sale_day["total_quantity"],
        sale_day["valid_days"],
    ) == ("Sale-day 3,000 won off", "FIXED", 3_000, None, 100, 7)
    now = datetime.now(UTC)
    assert sale_day["issue_start_at"] <= now < sale_day["issue_end_at"]
    assert sale_day["issue_end_at"] - sale_day["issue_start_at"] == timedelta(days=7)
    # Alice (2) and Bob (3) of the user service's demo data hold the welcome coupon.
    assert [(c["user_id"], c["coupon_id"]) for c in copies] == [(2, welcome["id"]), (3, welcome["id"])]
    assert welcome["remaining"] == 998 and sale_day["remaining"] == 100
