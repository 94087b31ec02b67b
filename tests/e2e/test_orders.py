"""Placing orders end to end, through the gateway, with the real catalog and coupon services behind
it (SPEC.md section 4, API.md "Orders and payments"): prices and names come from the catalog, the
coupon's terms from the coupon service, and every refusal is the problem API.md names."""

from __future__ import annotations

import itertools
import time
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from shop import Shop, assert_problem, line

from commerce_kit.testing import tokens

_payment_ids = itertools.count(int(time.time() * 1000) % 10**12 * 100)


@pytest_asyncio.fixture
async def shirts(shop: Shop) -> dict[str, Any]:
    """A product of the test's own: option 0 = M at 12,000 KRW (10 in stock), 1 = L at 13,000 (2)."""
    return await shop.new_product("T-shirt", ("M", 12_000, 10), ("L", 13_000, 2))


@pytest_asyncio.fixture
async def mugs(shop: Shop) -> dict[str, Any]:
    """Option 0 = White at 8,500 KRW (5 in stock)."""
    return await shop.new_product("Mug", ("White", 8_500, 5))


@pytest_asyncio.fixture
async def buyer(shop: Shop) -> int:
    return await shop.new_user("Buyer")


# --- placing ------------------------------------------------------------------------------------


async def test_an_order_is_priced_and_named_by_the_catalog_and_waits_for_payment(shop, shirts, mugs, buyer):
    answer = await shop.place(buyer, [line(shirts, 0, 2), line(shirts, 1, 1), line(mugs, 0, 3)])
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert answer.headers["location"] == f"/api/v1/orders/{order['orderId']}"
    assert order["userId"] == buyer and order["status"] == "PENDING_PAYMENT"
    snapshot = [
        (i["productName"], i["optionName"], i["unitPrice"], i["quantity"], i["lineAmount"])
        for i in order["items"]
    ]
    assert snapshot == [
        ("T-shirt", "M", 12_000, 2, 24_000),
        ("T-shirt", "L", 13_000, 1, 13_000),
        ("Mug", "White", 8_500, 3, 25_500),
    ]
    assert (order["totalAmount"], order["discountAmount"], order["payAmount"]) == (62_500, 0, 62_500)
    assert order["userCouponId"] is None and order["createdAt"]

    read = await shop.http.get(f"/api/v1/orders/{order['orderId']}", headers=shop.user(buyer))
    assert read.json() == order
    assert [o["orderId"] for o in await shop.orders_of(buyer)] == [order["orderId"]]
    # Placing takes no stock: the payment does.
    assert await shop.stock_of(shirts) == {shirts["options"][0]["id"]: 10, shirts["options"][1]["id"]: 2}


async def test_the_whole_stock_may_be_ordered(shop, shirts, buyer):
    answer = await shop.place(buyer, [line(shirts, 1, 2)])
    assert answer.status_code == 201, answer.text


async def test_prices_cannot_come_from_the_client(shop, shirts, buyer):
    for extra_line, extra in (({"unitPrice": 1}, {}), ({}, {"totalAmount": 1}), ({}, {"payAmount": 0})):
        answer = await shop.place(buyer, [line(shirts, 0, 1) | extra_line], **extra)
        assert_problem(answer, 400, "VALIDATION_FAILED")
    assert await shop.orders_of(buyer) == []


async def test_the_catalogs_current_stock_is_checked_not_a_cached_one(shop, shirts, buyer):
    await shop.set_stock(shirts, shirts["options"][0]["id"], 1)
    assert_problem(await shop.place(buyer, [line(shirts, 0, 2)]), 409, "INSUFFICIENT_STOCK")
    await shop.set_stock(shirts, shirts["options"][0]["id"], 5)
    assert (await shop.place(buyer, [line(shirts, 0, 2)])).status_code == 201


# --- with a coupon --------------------------------------------------------------------------------


async def test_a_rate_coupon_is_capped_by_its_maximum(shop, shirts, buyer):
    coupon = await shop.new_coupon("RATE", 10, maxDiscountAmount=5_000)
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(shirts, 0, 5)], userCouponId=user_coupon)  # 60,000 -> 6,000
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert (order["totalAmount"], order["discountAmount"], order["payAmount"]) == (60_000, 5_000, 55_000)
    assert order["userCouponId"] == user_coupon


async def test_a_rate_coupon_below_its_cap_is_rounded_down(shop, buyer):
    odd = await shop.new_product("Odd", ("One", 999, 10))
    coupon = await shop.new_coupon("RATE", 15, maxDiscountAmount=10_000)
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(odd, 0, 1)], userCouponId=user_coupon)  # 149.85
    assert (answer.json()["discountAmount"], answer.json()["payAmount"]) == (149, 850)


async def test_a_fixed_coupon_takes_its_value_off(shop, shirts, mugs, buyer):
    coupon = await shop.new_coupon("FIXED", 3_000)
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(shirts, 0, 1), line(mugs, 0, 1)], userCouponId=user_coupon)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["totalAmount"], answer.json()["discountAmount"], answer.json()["payAmount"]) == (
        20_500,
        3_000,
        17_500,
    )


async def test_a_coupon_for_one_product_discounts_only_that_products_lines(shop, shirts, mugs, buyer):
    coupon = await shop.new_coupon("RATE", 50, targetProductId=mugs["id"])
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(shirts, 0, 2), line(mugs, 0, 2)], userCouponId=user_coupon)
    assert answer.status_code == 201, answer.text
    # 24,000 of shirts + 17,000 of mugs; half of the mugs off.
    assert (answer.json()["totalAmount"], answer.json()["discountAmount"], answer.json()["payAmount"]) == (
        41_000,
        8_500,
        32_500,
    )


async def test_a_fixed_coupon_above_its_products_lines_gives_at_most_their_amount(shop, shirts, mugs, buyer):
    coupon = await shop.new_coupon("FIXED", 20_000, targetProductId=mugs["id"])
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(shirts, 0, 1), line(mugs, 0, 1)], userCouponId=user_coupon)
    assert (answer.json()["discountAmount"], answer.json()["payAmount"]) == (8_500, 12_000)


async def test_a_coupon_for_a_product_not_in_the_order_is_not_applicable(shop, shirts, mugs, buyer):
    coupon = await shop.new_coupon("FIXED", 1_000, targetProductId=mugs["id"])
    user_coupon = await shop.issued_coupon(buyer, coupon)
    answer = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=user_coupon)
    assert_problem(answer, 409, "COUPON_NOT_APPLICABLE")
    assert await shop.orders_of(buyer) == []


async def test_another_users_coupon_is_unavailable(shop, shirts, buyer):
    owner = await shop.new_user("Owner")
    user_coupon = await shop.issued_coupon(owner, await shop.new_coupon("FIXED", 1_000))
    answer = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=user_coupon)
    assert_problem(answer, 409, "COUPON_UNAVAILABLE")
    assert await shop.orders_of(buyer) == []


async def test_an_unknown_coupon_is_unavailable_too(shop, shirts, buyer):
    answer = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=987_654_321_987)
    assert_problem(answer, 409, "COUPON_UNAVAILABLE")


async def test_a_used_coupon_is_unavailable(shop, shirts, buyer, coupon_service_url, jwt_secret):
    user_coupon = await shop.issued_coupon(buyer, await shop.new_coupon("FIXED", 1_000))
    paid = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=user_coupon)
    # The payment saga's coupon step (the payment service is not needed to use the coupon up).
    async with httpx.AsyncClient(base_url=coupon_service_url, timeout=10) as coupon_service:
        used = await coupon_service.put(
            f"/internal/v1/user-coupons/{user_coupon}/use",
            json={"paymentId": next(_payment_ids), "userId": buyer, "orderId": paid.json()["orderId"]},
            headers=tokens.service(secret=jwt_secret),
        )
    assert used.status_code == 200, used.text
    answer = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=user_coupon)
    assert "USED" in assert_problem(answer, 409, "COUPON_UNAVAILABLE")["detail"]


async def test_an_expired_coupon_is_unavailable(shop, shirts, buyer, coupon_database_url):
    user_coupon = await shop.issued_coupon(buyer, await shop.new_coupon("FIXED", 1_000))
    # No API ages a coupon: move it past its expiry in the coupon service's own schema.
    conn = await asyncpg.connect(coupon_database_url)
    try:
        await conn.execute(
            "UPDATE coupons.user_coupons SET issued_at = now() - interval '8 days',"
            " expires_at = now() - interval '1 day' WHERE id = $1",
            user_coupon,
        )
    finally:
        await conn.close()
    answer = await shop.place(buyer, [line(shirts, 0, 1)], userCouponId=user_coupon)
    assert_problem(answer, 409, "COUPON_UNAVAILABLE")
    assert await shop.orders_of(buyer) == []


# --- the catalog's refusals -----------------------------------------------------------------------


async def test_an_option_of_another_product_is_option_not_found(shop, shirts, mugs, buyer):
    mug_under_shirts = {"productId": shirts["id"], "optionId": mugs["options"][0]["id"], "quantity": 1}
    problem = assert_problem(await shop.place(buyer, [mug_under_shirts]), 404, "OPTION_NOT_FOUND")
    assert f"belongs to product {mugs['id']}, not to product {shirts['id']}" in problem["detail"]
    assert await shop.orders_of(buyer) == []


async def test_an_unknown_option_of_a_product_in_the_order_is_option_not_found(shop, shirts, buyer):
    unknown = {"productId": shirts["id"], "optionId": 987_654_321_987, "quantity": 1}
    problem = assert_problem(await shop.place(buyer, [line(shirts, 0, 1), unknown]), 404, "OPTION_NOT_FOUND")
    assert problem["optionIds"] == [987_654_321_987]


async def test_an_unknown_product_is_product_not_found(shop, buyer):
    unknown = {"productId": 987_654_321_987, "optionId": 987_654_321_987, "quantity": 1}
    assert_problem(await shop.place(buyer, [unknown]), 404, "PRODUCT_NOT_FOUND")


async def test_more_than_the_stock_is_insufficient_stock(shop, shirts, buyer):
    problem = assert_problem(await shop.place(buyer, [line(shirts, 1, 3)]), 409, "INSUFFICIENT_STOCK")
    assert problem["optionIds"] == [shirts["options"][1]["id"]]
    assert await shop.orders_of(buyer) == []


async def test_the_stock_is_checked_before_the_coupon(shop, shirts, buyer):
    answer = await shop.place(buyer, [line(shirts, 1, 3)], userCouponId=987_654_321_987)
    assert_problem(answer, 409, "INSUFFICIENT_STOCK")
