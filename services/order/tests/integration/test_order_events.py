"""Every move of an order reaches Kafka's `order-events` (through the outbox and its relay), keyed
by the order id, in the order the moves happened, once each."""

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from commerce_contracts import decode_event
from commerce_contracts.registry import ORDER_EVENTS
from commerce_kit.testing import eventually, tokens


async def events_for(settings, order_ids, expected):
    """The events of these orders on the (session-prefixed) topic, once `expected` of them arrived."""
    wanted = {str(i) for i in order_ids}
    consumer = AIOKafkaConsumer(
        settings.topic(ORDER_EVENTS.name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:

        async def enough():
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(r for r in part if r.key.decode() in wanted)
            return len(records) >= expected

        await eventually(enough, timeout=30, what=f"{expected} order events")
        # Anything sent with them is in by now too: read what is left, to catch a duplicate.
        for part in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(r for r in part if r.key.decode() in wanted)
    finally:
        await consumer.stop()
    return [decode_event(r.value, ORDER_EVENTS.events) for r in records]


async def test_an_order_placed_paid_and_refunded_tells_each_step_once_in_order(
    settings, new_order, user, payment, mark_paid, mark_refunded
):
    order = await new_order(user, shirts=2, mugs=1)
    await mark_paid(order.id, payment)
    await mark_paid(order.id, payment)  # a retry: no second OrderPaid
    await mark_refunded(order.id, payment)
    await mark_refunded(order.id, payment)

    placed, paid, refunded = await events_for(settings, [order.id], expected=3)
    assert (placed.type, paid.type, refunded.type) == ("OrderPlaced", "OrderPaid", "OrderRefunded")
    assert placed.order_id == order.id and placed.user_id == user
    assert [(line.option_id, line.quantity, line.unit_price) for line in placed.lines] == [
        (101, 2, 12_000),
        (201, 1, 8_500),
    ]
    assert (placed.total_amount, placed.discount_amount, placed.pay_amount) == (32_500, 0, 32_500)
    assert placed.user_coupon_id is None and placed.placed_at == order.created_at
    assert paid.payment_id == payment and paid.paid_at.isoformat() == "2026-03-01T12:00:00+00:00"
    assert refunded.payment_id == payment
    assert len({placed.event_id, paid.event_id, refunded.event_id}) == 3


async def test_a_cancelled_and_an_expired_order_are_told_too(client, settings, new_order, user, pool, expiry):
    cancelled, expired = await new_order(user), await new_order(user)
    await client.post(f"/api/v1/orders/{cancelled.id}/cancel", headers=tokens.bearer(user))
    await pool.execute("UPDATE orders SET created_at = now() - interval '1 hour' WHERE id = $1", expired.id)
    await expiry.run()

    seen = await events_for(settings, [cancelled.id, expired.id], expected=4)
    by_order: dict[int, list[str]] = {}
    for event in seen:
        by_order.setdefault(event.order_id, []).append(event.type)
    assert by_order == {
        cancelled.id: ["OrderPlaced", "OrderCancelled"],
        expired.id: ["OrderPlaced", "OrderExpired"],
    }
