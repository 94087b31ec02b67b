"""The order service's consumer of PaymentCompleted (`order.payment-status`): the saga's last step
normally marked the order PAID already, and then the event changes nothing; if that answer was lost,
the event marks it. A completed payment for an order another payment paid is for a human (the
consumer makes it permanent: dead letter)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commerce_contracts.events.payments import PaidLine, PaymentCompleted
from commerce_kit.messaging import Permanent
from order_service.entrypoints.consumers import payment_status_consumer

PAID_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def completed(order_id: int, payment_id: int, user_id: int) -> PaymentCompleted:
    return PaymentCompleted(
        payment_id=payment_id,
        order_id=order_id,
        user_id=user_id,
        amount=1000,
        items=(PaidLine(product_id=10, option_id=101, quantity=2, unit_price=12_000),),
        user_coupon_id=None,
        balance_after=0,
        paid_at=PAID_AT,
    )


async def order_paid_events(pool, order_id: int) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'OrderPaid' AND payload->>'order_id' = $1",
        str(order_id),
    )


async def test_an_order_the_saga_left_unpaid_is_marked_paid_by_the_event(
    orders, pool, new_order, user, payment, status_of
):
    order = await new_order(user)
    await payment_status_consumer(orders).handler([completed(order.id, payment, user)])
    assert await status_of(order.id) == "PAID"
    assert await pool.fetchval("SELECT payment_id FROM orders WHERE id = $1", order.id) == payment


async def test_an_order_the_saga_marked_paid_is_left_as_it_is(
    orders, pool, new_order, user, payment, mark_paid, status_of
):
    order = await new_order(user)
    assert (await mark_paid(order.id, payment)).status_code == 200
    before = await pool.fetchrow("SELECT updated_at, paid_at FROM orders WHERE id = $1", order.id)
    events = await order_paid_events(pool, order.id)
    await payment_status_consumer(orders).handler([completed(order.id, payment, user)])
    assert await status_of(order.id) == "PAID"
    assert await pool.fetchrow("SELECT updated_at, paid_at FROM orders WHERE id = $1", order.id) == before
    assert await order_paid_events(pool, order.id) == events  # nothing announced twice


async def test_a_completed_payment_for_an_order_another_payment_paid_is_permanent(
    orders, new_order, user, payment, fresh_id, mark_paid
):
    order = await new_order(user)
    assert (await mark_paid(order.id, payment)).status_code == 200
    with pytest.raises(Permanent):
        await payment_status_consumer(orders).handler([completed(order.id, fresh_id(), user)])


async def test_a_batch_marks_the_orders_the_saga_left_unpaid_and_leaves_the_others(
    orders, pool, new_order, user, fresh_id, mark_paid, status_of
):
    left, marked, again = [await new_order(user) for _ in range(3)]
    payments = {o.id: fresh_id() for o in (left, marked, again)}
    for order in (marked, again):
        assert (await mark_paid(order.id, payments[order.id])).status_code == 200
    written = "SELECT updated_at, paid_at FROM orders WHERE id = $1"
    before = {o.id: await pool.fetchrow(written, o.id) for o in (marked, again)}
    batch = [completed(o.id, payments[o.id], user) for o in (marked, left, again, left)]  # left twice
    await payment_status_consumer(orders).handler(batch)
    for order in (left, marked, again):
        assert await status_of(order.id) == "PAID"
        assert (
            await pool.fetchval("SELECT payment_id FROM orders WHERE id = $1", order.id) == payments[order.id]
        )
    assert {o.id: await pool.fetchrow(written, o.id) for o in (marked, again)} == before  # not written
