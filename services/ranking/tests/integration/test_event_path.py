"""The event path on a real broker (SPEC.md section 6): payment-completed and payment-refunded
reach the ranking within the bounded wait, each payment counted once however often it arrives, and
in whichever order its sale and its refund come."""

from datetime import timedelta

from commerce_kit import metrics
from commerce_kit.testing import eventually


def sold(items):
    return {i["productId"]: i["soldQuantity"] for i in items}


async def test_a_payment_shows_in_the_ranking(events, read_popular, today, seoul, fresh_id):
    tea, cup = fresh_id(), fresh_id()
    await events.publish(events.paid([(tea, 3, "Tea"), (cup, 1, "Cup")], seoul(today, 10)))

    items = await eventually(read_popular, what="the payment in the ranking")
    assert [(i["rank"], i["productId"], i["name"], i["soldQuantity"]) for i in items] == [
        (1, tea, "Tea", 3),
        (2, cup, "Cup", 1),
    ]


async def test_a_refund_takes_its_sale_out_of_the_ranking(events, read_popular, today, seoul, fresh_id):
    kept, refunded = fresh_id(), fresh_id()
    sale = events.paid({kept: 1, refunded: 5}, seoul(today, 9))
    other = events.paid({refunded: 2}, seoul(today, 11))
    await events.publish(sale, other)
    await eventually(lambda: _shows(read_popular(), {refunded: 7, kept: 1}), what="both sales counted")

    await events.publish(events.refunded(sale, seoul(today, 12)))
    await eventually(lambda: _shows(read_popular(), {refunded: 2, kept: 0}), what="the refund")


async def test_a_refund_of_an_earlier_day_is_taken_from_the_day_of_its_sale(
    events, read_popular, today, seoul, fresh_id
):
    product = fresh_id()
    sale = events.paid({product: 4}, seoul(today - timedelta(days=2), 23, 0))
    await events.publish(sale, events.paid({product: 1}, seoul(today, 1)))
    await eventually(lambda: _shows(read_popular(days=3), {product: 5}), what="both sales counted")

    await events.publish(events.refunded(sale, seoul(today, 9)))
    await eventually(lambda: _shows(read_popular(days=3), {product: 1}), what="the refund")
    assert sold(await read_popular(days=1)) == {product: 1}


async def test_redelivered_payments_and_refunds_are_counted_once(
    events, read_popular, pool, today, seoul, fresh_id
):
    product, order = fresh_id(), fresh_id()
    first = events.paid({product: 2}, seoul(today, 9), order_id=order)
    second = events.paid({product: 3}, seoul(today, 10), order_id=order)
    # A producer that published twice (outbox: at least once) and a consumer that re-reads.
    await events.publish(first, first, second, first, second)
    await events.settle(order)
    assert sold(await read_popular()) == {product: 5}

    refund = events.refunded(first)
    await events.publish(refund, refund, refund)
    await events.settle(order)
    assert sold(await read_popular()) == {product: 3}
    stored = await pool.fetch(
        "SELECT refunded_at FROM sales WHERE payment_id = ANY($1::bigint[]) ORDER BY payment_id",
        [first.payment_id, second.payment_id],
    )
    assert [r["refunded_at"] for r in stored] == [refund.refunded_at, None]


async def test_a_refund_that_arrives_before_its_sale_ends_the_same(
    events, read_popular, pool, today, seoul, fresh_id
):
    refunded, kept, order = fresh_id(), fresh_id(), fresh_id()
    sale = events.paid({refunded: 6}, seoul(today, 9), order_id=order)
    await events.publish(events.refunded(sale, seoul(today, 10)))
    await events.settle(order)
    # The refund is recorded, and the sale it takes back is not counted.
    row = await pool.fetchrow("SELECT source, refunded_at FROM sales WHERE payment_id = $1", sale.payment_id)
    assert row["source"] == "REFUND" and row["refunded_at"] == seoul(today, 10)

    await events.publish(sale, sale, events.paid({kept: 1}, seoul(today, 11), order_id=order))
    await events.settle(order)
    assert sold(await read_popular()) == {kept: 1}
    counters = await pool.fetchval(
        "SELECT coalesce(sum(quantity), 0) FROM product_day_sales WHERE product_id = $1", refunded
    )
    assert counters == 0


async def test_recorded_sales_and_refunds_are_counted_in_the_metrics(events, today, seoul, fresh_id):
    def value(name, **labels):
        return metrics.REGISTRY.get_sample_value(name, labels) or 0

    sales_before = value("ranking_sales_recorded_total", source="payment")
    refunds_before = value("ranking_refunds_recorded_total", arrived="after_sale")
    order = fresh_id()
    sale = events.paid({fresh_id(): 1}, seoul(today), order_id=order)
    await events.publish(sale, sale)
    await events.settle(order)
    await events.publish(events.refunded(sale))
    await events.settle(order)
    # The markers of settle() are sales too: two of them, and the second refund is one "before_sale".
    assert value("ranking_sales_recorded_total", source="payment") == sales_before + 3
    assert value("ranking_refunds_recorded_total", arrived="after_sale") == refunds_before + 1


async def _shows(items, expected):
    """The ranking shows exactly `expected` for these products (0: not listed)."""
    found = sold(await items)
    return {p: q for p, q in expected.items() if q} == {p: q for p, q in found.items() if p in expected}
