"""Placing orders end to end, through the gateway, with the real catalog and coupon services behind
it (SPEC.md section 4, API.md "Orders and payments"): prices and names come from the catalog, the
coupon's terms from the coupon service, and every refusal is the problem API.md names.

Needs the fixtures `gateway_url`, `jwt_secret`, `coupon_service_url` (the coupon service's internal
API, to mark a coupon used as the payment saga would) and `coupon_database_url` (to move a coupon
past its expiry, which no API can do): see e2e_pending/conftest.py.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from commerce_kit.testing import eventually, tokens

PROBLEM = "application/problem+json"
_payment_ids = itertools.count(int(time.time() * 1000) % 10**12 * 100)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body = answer.json()
    assert body["code"] == code and body["status"] == status and body["detail"], body
    return body


class Shop:
    """The suite as a client and an admin see it, through the gateway."""

    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self.http, self.secret = http, secret

    def user(self, user_id: int) -> dict[str, str]:
        return tokens.bearer(user_id, secret=self.secret)

    def admin(self) -> dict[str, str]:
        return tokens.admin(secret=self.secret)

    async def new_user(self, name: str = "Buyer") -> int:
        answer = await self.http.post("/api/v1/admin/users", json={"name": name}, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def new_product(self, name: str, *options: tuple[str, int, int]) -> dict[str, Any]:
        """A product with options (name, price, stock); returns its detail (with the option ids)."""
        body = {
            "name": name,
            "description": f"{name} for the order tests",
            "options": [{"name": n, "price": p, "stock": s} for n, p, s in options],
        }
        answer = await self.http.post("/api/v1/admin/products", json=body, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def set_stock(self, product: dict[str, Any], option_id: int, stock: int) -> None:
        answer = await self.http.put(
            f"/api/v1/admin/products/{product['id']}/options/{option_id}/stock",
            json={"stock": stock},
            headers=self.admin(),
        )
        assert answer.status_code == 200, answer.text

    async def stock_of(self, product: dict[str, Any]) -> dict[int, int]:
        answer = await self.http.get(f"/api/v1/products/{product['id']}", headers=self.admin())
        return {o["id"]: o["stock"] for o in answer.json()["options"]}

    async def new_coupon(self, discount_type: str, value: int, **terms: Any) -> int:
        body = {
            "name": f"{discount_type} {value}",
            "discountType": discount_type,
            "discountValue": value,
            "totalQuantity": 100,
            "validDays": 7,
            **terms,
        }
        answer = await self.http.post("/api/v1/admin/coupons", json=body, headers=self.admin())
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def issued_coupon(self, user_id: int, coupon_id: int) -> int:
        """Issue the coupon to the user (first come, first served) and wait until it is settled."""
        asked = await self.http.post(f"/api/v1/coupons/{coupon_id}/issue", headers=self.user(user_id))
        assert asked.status_code in (200, 202), asked.text
        reservation = asked.json()["reservationId"]

        async def settled() -> dict[str, Any] | None:
            answer = await self.http.get(
                f"/api/v1/coupons/issue-requests/{reservation}", headers=self.user(user_id)
            )
            body = answer.json()
            return body if body.get("status") in ("ISSUED", "REJECTED") else None

        outcome = await eventually(settled, timeout=30, what=f"reservation {reservation} settled")
        assert outcome["status"] == "ISSUED", outcome
        return outcome["userCouponId"]

    async def place(self, user_id: int, items: list[dict[str, int]], **extra: Any) -> httpx.Response:
        body = {"items": items, **extra}
        return await self.http.post("/api/v1/orders", json=body, headers=self.user(user_id))

    async def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/api/v1/users/{user_id}/orders", headers=self.user(user_id))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]


def line(product: dict[str, Any], option_index: int, quantity: int) -> dict[str, int]:
    return {
        "productId": product["id"],
        "optionId": product["options"][option_index]["id"],
        "quantity": quantity,
    }


@pytest_asyncio.fixture(scope="session")
async def shop(gateway_url: str, jwt_secret: str) -> AsyncIterator[Shop]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as http:
        yield Shop(http, jwt_secret)


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
