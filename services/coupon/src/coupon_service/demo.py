"""Demo data for `make run`: two coupons, and the welcome coupon issued to two demo users, loaded
only into an empty schema."""

from __future__ import annotations

from datetime import timedelta

from commerce_kit import db
from coupon_service.service_layer.clock import utc_now
from coupon_service.service_layer.issuing import Issuing
from coupon_service.service_layer.policies import Policies
from coupon_service.settings import CouponSettings

#: The user service's demo users are 1 Admin, 2 Alice, 3 Bob, 4 Carol (its demo data, loaded into an
#: empty schema, numbers them so); we cannot read its schema, so we go by those documented ids.
ALICE, BOB = 2, 3


async def load(settings: CouponSettings) -> None:
    pool = await db.create_pool(
        settings.database_url, settings.db_schema, application_name="coupon-demo", min_size=1
    )
    try:
        if await pool.fetchval("SELECT EXISTS (SELECT FROM coupons)"):
            print("coupon: data present, demo data skipped")
            return
        policies, now = Policies(pool), utc_now()
        welcome = await policies.define(
            name="Welcome 10%",
            discount_type="RATE",
            discount_value=10,
            max_discount_amount=5_000,
            total_quantity=1_000,
            valid_days=30,
        )
        sale_day = await policies.define(
            name="Sale-day 3,000 won off",
            discount_type="FIXED",
            discount_value=3_000,
            total_quantity=100,
            valid_days=7,
            issue_start_at=now,
            issue_end_at=now + timedelta(days=7),
        )
        issuing = Issuing(pool)
        for user in (ALICE, BOB):
            await issuing.issue_to(user, welcome.id)
        print(
            f"coupon: demo coupons loaded ({welcome.id} {welcome.policy.name!r},"
            f" {sale_day.id} {sale_day.policy.name!r}); Alice and Bob hold the welcome coupon"
        )
    finally:
        await pool.close()
