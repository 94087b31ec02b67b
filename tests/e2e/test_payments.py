"""The payment saga end to end (SPEC.md section 5): money moves across five services, and nothing is
lost, doubled or left half done, under concurrency and with the saga's process killed mid-flight.

The invariants are checked in the services' own tables (the test is an observer; no service reads
another's schema): money is conserved, stock taken equals stock in paid orders, history rows match
payments one to one, the data platform got every payment exactly once after deduplication, and no saga
is left non-final."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from saga_invariants import assert_money_and_stock_hold, deliveries
from shop import Shop, assert_problem, line

from commerce_kit.testing import eventually


@pytest_asyncio.fixture(scope="module")
async def db(suite) -> Any:
    conn = await asyncpg.connect(suite.env["DATABASE_URL"])
    yield conn
    await conn.close()


async def funded_buyer(shop: Shop, amount: int = 200_000) -> int:
    user = await shop.new_user("Buyer")
    await shop.charge(user, amount)
    return user


async def test_a_payment_takes_stock_balance_and_coupon_and_everyone_hears_of_it(shop, suite, db):
    product = await shop.new_product("Jacket", ("S", 50_000, 3))
    buyer = await funded_buyer(shop, 100_000)
    coupon = await shop.new_coupon("RATE", 10, maxDiscountAmount=3_000)
    user_coupon = await shop.issued_coupon(buyer, coupon)
    order = await shop.placed(buyer, [line(product, 0, 1)], userCouponId=user_coupon)
    assert order["payAmount"] == 47_000

    answer = await shop.pay(buyer, order["orderId"])
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert payment["status"] == "COMPLETED" and payment["amount"] == 47_000 and payment["paidAt"]
    assert (await shop.order(buyer, order["orderId"]))["status"] == "PAID"
    assert await shop.stock_of(product) == {product["options"][0]["id"]: 2}
    assert await shop.balance(buyer) == 53_000
    used = [c for c in await shop.my_coupons(buyer) if c["userCouponId"] == user_coupon]
    assert used[0]["status"] == "USED"
    read = await shop.http.get(f"/api/v1/payments/{payment['paymentId']}", headers=shop.user(buyer))
    assert read.json()["status"] == "COMPLETED"

    async def history_row():
        return [t for t in await shop.history(buyer) if t["type"] == "PAYMENT"]

    [row] = await eventually(history_row, what="the PAYMENT history row")
    assert (row["amount"], row["balanceAfter"], row["orderId"]) == (47_000, 53_000, order["orderId"])

    async def delivered():
        found = [p for p in (await deliveries(suite))["payments"] if p["paymentId"] == payment["paymentId"]]
        return found or None

    [sent] = await eventually(delivered, what="the data platform delivery")
    assert sent["amount"] == 47_000 and sent["items"][0]["quantity"] == 1


async def test_a_short_balance_gives_the_stock_back_and_changes_nothing_else(shop, db):
    product = await shop.new_product("Coat", ("M", 90_000, 5))
    buyer = await funded_buyer(shop, 10_000)
    coupon = await shop.new_coupon("FIXED", 1_000)
    user_coupon = await shop.issued_coupon(buyer, coupon)
    order = await shop.placed(buyer, [line(product, 0, 2)], userCouponId=user_coupon)
    problem = assert_problem(await shop.pay(buyer, order["orderId"]), 409, "INSUFFICIENT_BALANCE")
    assert "balance" in problem["detail"]
    assert await shop.stock_of(product) == {product["options"][0]["id"]: 5}
    assert await shop.balance(buyer) == 10_000
    assert (await shop.order(buyer, order["orderId"]))["status"] == "PENDING_PAYMENT"
    assert [c["status"] for c in await shop.my_coupons(buyer) if c["userCouponId"] == user_coupon] == [
        "ISSUED"
    ]


async def test_a_coupon_used_meanwhile_gives_balance_and_stock_back(shop):
    product = await shop.new_product("Scarf", ("Red", 10_000, 10))
    buyer = await funded_buyer(shop, 100_000)
    user_coupon = await shop.issued_coupon(buyer, await shop.new_coupon("FIXED", 2_000))
    first = await shop.placed(buyer, [line(product, 0, 1)], userCouponId=user_coupon)
    second = await shop.placed(buyer, [line(product, 0, 1)], userCouponId=user_coupon)
    assert (await shop.pay(buyer, first["orderId"])).status_code == 201
    assert_problem(await shop.pay(buyer, second["orderId"]), 409, "COUPON_UNAVAILABLE")
    assert await shop.stock_of(product) == {product["options"][0]["id"]: 9}
    assert await shop.balance(buyer) == 92_000


async def test_not_enough_stock_is_refused_and_a_paid_order_cannot_be_paid_again(shop):
    product = await shop.new_product("Hat", ("One size", 5_000, 1))
    buyer, other = await funded_buyer(shop), await funded_buyer(shop)
    mine = await shop.placed(buyer, [line(product, 0, 1)])
    theirs = await shop.placed(other, [line(product, 0, 1)])
    assert (await shop.pay(buyer, mine["orderId"])).status_code == 201
    assert_problem(await shop.pay(other, theirs["orderId"]), 409, "INSUFFICIENT_STOCK")
    assert_problem(await shop.pay(buyer, mine["orderId"]), 409, "INVALID_ORDER_STATE")
    assert await shop.balance(other) == 200_000


async def test_only_the_orders_owner_may_pay_it(shop):
    product = await shop.new_product("Gloves", ("L", 5_000, 5))
    buyer, stranger = await funded_buyer(shop), await funded_buyer(shop)
    order = await shop.placed(buyer, [line(product, 0, 1)])
    assert_problem(await shop.pay(stranger, order["orderId"]), 403, "FORBIDDEN")
    assert await shop.balance(stranger) == 200_000


async def test_one_key_retried_concurrently_pays_once(shop):
    product = await shop.new_product("Boots", ("42", 30_000, 10))
    buyer = await funded_buyer(shop, 100_000)
    order = await shop.placed(buyer, [line(product, 0, 1)])
    key = f"pay-{uuid.uuid4()}"
    answers = await asyncio.gather(*(shop.pay(buyer, order["orderId"], key) for _ in range(20)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert all(a.json()["code"] == "IDEMPOTENCY_IN_PROGRESS" for a in answers if a.status_code == 409)
    assert len({a.json()["paymentId"] for a in answers if a.status_code == 201}) == 1
    assert await shop.balance(buyer) == 70_000
    assert await shop.stock_of(product) == {product["options"][0]["id"]: 9}
    replay = await shop.pay(buyer, order["orderId"], key)
    assert replay.status_code == 201 and replay.json() == next(
        a.json() for a in answers if a.status_code == 201
    )


async def test_a_paid_order_cancelled_is_refunded_everything_given_back(shop, suite):
    product = await shop.new_product("Bag", ("Black", 40_000, 4))
    buyer = await funded_buyer(shop, 100_000)
    user_coupon = await shop.issued_coupon(buyer, await shop.new_coupon("FIXED", 5_000))
    order = await shop.placed(buyer, [line(product, 0, 2)], userCouponId=user_coupon)
    paid = (await shop.pay(buyer, order["orderId"])).json()
    assert await shop.balance(buyer) == 25_000

    answer = await shop.cancel(buyer, order["orderId"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "REFUNDED"
    assert await shop.balance(buyer) == 100_000
    assert await shop.stock_of(product) == {product["options"][0]["id"]: 4}
    assert [c["status"] for c in await shop.my_coupons(buyer) if c["userCouponId"] == user_coupon] == [
        "ISSUED"
    ]
    read = await shop.http.get(f"/api/v1/payments/{paid['paymentId']}", headers=shop.user(buyer))
    assert read.json()["status"] == "REFUNDED"

    async def refund_row():
        return [t for t in await shop.history(buyer) if t["type"] == "REFUND"]

    [row] = await eventually(refund_row, what="the REFUND history row")
    assert (row["amount"], row["balanceAfter"]) == (75_000, 100_000)
    assert_problem(await shop.cancel(buyer, order["orderId"]), 409, "INVALID_ORDER_STATE")


@pytest.mark.slow
async def test_300_buyers_for_100_in_stock_exactly_100_pay(shop, db):
    product = await shop.new_product("Limited sneakers", ("270", 10_000, 100))
    option = product["options"][0]["id"]
    buyers = await asyncio.gather(*(funded_buyer(shop, 20_000) for _ in range(300)))
    orders = await asyncio.gather(*(shop.placed(b, [line(product, 0, 1)]) for b in buyers))
    answers = await asyncio.gather(*(shop.pay(b, o["orderId"]) for b, o in zip(buyers, orders, strict=True)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 100 + [409] * 200
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"INSUFFICIENT_STOCK"}
    assert await shop.stock_of(product) == {option: 0}
    assert await db.fetchval("SELECT stock FROM catalog.options WHERE id = $1", option) == 0
    paid = await db.fetchval(
        "SELECT count(*) FROM orders.orders WHERE id = ANY($1::bigint[]) AND status = 'PAID'",
        [o["orderId"] for o in orders],
    )
    assert paid == 100


# --- the invariants, under mixed load and with the saga's process killed ---------------------------


async def mixed_load(shop: Shop, users: list[int], products: list[dict], rounds: int) -> None:
    async def one(user: int) -> None:
        for _ in range(rounds):
            product = random.choice(products)
            order = await shop.place(
                user, [line(product, random.randrange(len(product["options"])), random.randint(1, 2))]
            )
            if order.status_code != 201:
                assert order.status_code == 409, order.text  # the stock ran out meanwhile
                continue
            order_id = order.json()["orderId"]
            try:
                paid = await shop.pay(user, order_id, key=f"k-{order_id}")
                if paid.status_code == 201 and random.random() < 0.3:
                    await shop.cancel(user, order_id)
                if random.random() < 0.3:
                    await shop.http.post(
                        f"/api/v1/users/{user}/balance/charge",
                        json={"amount": 1_000},
                        headers=shop.user(user),
                    )
            except httpx.TransportError:
                pass  # a process was killed under us: the invariants must hold anyway

    await asyncio.gather(*(one(u) for u in users))


@pytest.mark.slow
async def test_mixed_payments_refunds_and_charges_keep_money_and_stock_right(shop, suite, db):
    products = [
        await shop.new_product(f"Mixed {i}", ("A", 7_000 + i, 40), ("B", 9_000 + i, 40)) for i in range(3)
    ]
    options = {o["id"]: 40 for p in products for o in p["options"]}
    users = list(await asyncio.gather(*(funded_buyer(shop, 60_000) for _ in range(30))))
    await mixed_load(shop, users, products, rounds=4)
    await assert_money_and_stock_hold(db, suite, users, options)


@pytest.mark.slow
async def test_the_saga_process_killed_mid_flight_leaves_nothing_half_done(shop, suite, db):
    products = [await shop.new_product(f"Crash {i}", ("A", 5_000, 50)) for i in range(2)]
    options = {o["id"]: 50 for p in products for o in p["options"]}
    users = list(await asyncio.gather(*(funded_buyer(shop, 40_000) for _ in range(24))))

    async def kill_mid_flight():
        await eventually(
            lambda: db.fetchval(
                "SELECT count(*) >= 5 FROM payments.payments WHERE user_id = ANY($1::bigint[])", users
            ),
            timeout=60,
            interval=0.01,
            what="payments under way",
        )
        await asyncio.to_thread(suite.kill, "payment")
        await asyncio.to_thread(suite.restart, "payment")

    killer = asyncio.create_task(kill_mid_flight())
    await mixed_load(shop, users, products, rounds=3)
    await killer
    await assert_money_and_stock_hold(db, suite, users, options)
    # The kill really cut sagas in the middle: the recovery worker of the new process resumed them.
    resumed = await db.fetchval(
        "SELECT count(*) FROM payments.payment_transitions t JOIN payments.payments p ON p.id = t.payment_id"
        " WHERE p.user_id = ANY($1::bigint[]) AND t.event = 'RESUMED'",
        users,
    )
    assert resumed > 0
