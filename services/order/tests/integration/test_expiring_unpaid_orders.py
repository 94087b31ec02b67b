"""Orders left unpaid longer than ORDER_PAYMENT_TIMEOUT_MINUTES (30 here, the default) expire, by a
job that runs on one instance at a time; a payment racing the expiry either pays or is refused."""

import asyncio

from commerce_kit.testing import tokens


async def backdate(pool, order_ids, minutes):
    await pool.execute(
        "UPDATE orders SET created_at = now() - make_interval(mins => $2) WHERE id = ANY($1::bigint[])",
        list(order_ids),
        minutes,
    )


async def test_only_orders_unpaid_past_the_timeout_expire(
    client, new_order, user, payment, expiry, pool, status_of, mark_paid
):
    overdue, fresh, almost, paid, cancelled = [await new_order(user) for _ in range(5)]
    await mark_paid(paid.id, payment)
    await client.post(f"/api/v1/orders/{cancelled.id}/cancel", headers=tokens.bearer(user))
    await backdate(pool, [overdue.id, paid.id, cancelled.id], minutes=31)
    await backdate(pool, [almost.id], minutes=29)

    assert await expiry.run() == 1
    assert [await status_of(o.id) for o in (overdue, fresh, almost, paid, cancelled)] == [
        "EXPIRED",
        "PENDING_PAYMENT",
        "PENDING_PAYMENT",
        "PAID",
        "CANCELLED",
    ]
    assert await pool.fetchval("SELECT expired_at IS NOT NULL FROM orders WHERE id = $1", overdue.id)
    assert await expiry.run() == 0  # nothing left to do


async def test_an_expired_order_can_no_longer_be_paid(
    new_order, user, payment, expiry, pool, mark_paid, assert_problem
):
    order = await new_order(user)
    await backdate(pool, [order.id], minutes=45)
    await expiry.run()
    assert_problem(await mark_paid(order.id, payment), 409, "INVALID_ORDER_STATE")


async def test_four_jobs_at_once_expire_each_order_exactly_once(new_order, user, expiry, pool):
    due = [await new_order(user, mugs=0) for _ in range(120)]
    await backdate(pool, [o.id for o in due], minutes=60)
    expiry.batch_size = 25  # several batches, so the jobs really interleave
    try:
        counts = await asyncio.gather(*(expiry.run() for _ in range(4)))
    finally:
        expiry.batch_size = 500
    assert sum(counts) == len(due)
    statuses = await pool.fetch(
        "SELECT status, count(*) FROM orders WHERE user_id = $1 GROUP BY status", user
    )
    assert {r["status"]: r["count"] for r in statuses} == {"EXPIRED": 120}


async def test_a_payment_racing_the_expiry_either_pays_or_is_refused_never_both(
    new_order, user, payment, expiry, pool, mark_paid
):
    racing = [await new_order(user, mugs=0) for _ in range(40)]
    await backdate(pool, [o.id for o in racing], minutes=60)
    expiry.batch_size = 5
    try:
        results = await asyncio.gather(
            *(mark_paid(o.id, payment + n) for n, o in enumerate(racing)), expiry.run(), expiry.run()
        )
    finally:
        expiry.batch_size = 500
    answers, expired = results[: len(racing)], sum(results[len(racing) :])
    # A job that lost the advisory lock stops; whatever it left is expired by the next run.
    expired += await expiry.run()
    rows = {
        r["id"]: (r["status"], r["payment_id"])
        for r in await pool.fetch("SELECT id, status, payment_id FROM orders WHERE user_id = $1", user)
    }
    for n, (order, answer) in enumerate(zip(racing, answers, strict=True)):
        if answer.status_code == 200:
            assert rows[order.id] == ("PAID", payment + n)
        else:
            assert answer.status_code == 409 and answer.json()["code"] == "INVALID_ORDER_STATE"
            assert rows[order.id] == ("EXPIRED", None)
    assert expired == sum(1 for status, _ in rows.values() if status == "EXPIRED")
