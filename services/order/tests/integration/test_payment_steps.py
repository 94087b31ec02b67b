"""The internal API the payment saga uses (docs/internal-api.md "order"): read an order with its
payment, mark it paid and refunded, idempotent on the payment id; nothing else moves it."""

import asyncio

import pytest

from commerce_kit.testing import tokens


async def test_the_saga_reads_the_order_with_no_payment_yet(client, new_order, user):
    order = await new_order(user)
    answer = await client.get(f"/internal/v1/orders/{order.id}", headers=tokens.service())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["orderId"] == order.id and body["status"] == "PENDING_PAYMENT"
    assert body["paymentId"] is None and body["payAmount"] == order.pay_amount
    assert [(i["optionId"], i["quantity"], i["unitPrice"]) for i in body["items"]] == [
        (101, 2, 12_000),
        (201, 1, 8_500),
    ]


async def test_reading_an_unknown_order_is_not_found(client, assert_problem):
    answer = await client.get("/internal/v1/orders/987654321987", headers=tokens.service())
    assert_problem(answer, 404, "ORDER_NOT_FOUND")


async def test_marking_paid_moves_the_order_to_paid_with_its_payment(
    client, new_order, user, payment, mark_paid
):
    order = await new_order(user)
    answer = await mark_paid(order.id, payment)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "PAID" and answer.json()["paymentId"] == payment
    read = await client.get(f"/internal/v1/orders/{order.id}", headers=tokens.service())
    assert read.json()["paymentId"] == payment and read.json()["status"] == "PAID"


async def test_marking_paid_again_for_the_same_payment_answers_the_same(
    new_order, user, payment, mark_paid, pool
):
    order = await new_order(user)
    first = await mark_paid(order.id, payment)
    stamped = await pool.fetchval("SELECT updated_at FROM orders WHERE id = $1", order.id)
    again = await mark_paid(order.id, payment)
    assert again.status_code == 200 and again.json() == first.json()
    # Nothing was written the second time.
    assert await pool.fetchval("SELECT updated_at FROM orders WHERE id = $1", order.id) == stamped


async def test_marking_paid_for_another_payment_is_an_invalid_order_state(
    new_order, user, payment, mark_paid, status_of, pool, assert_problem
):
    order = await new_order(user)
    await mark_paid(order.id, payment)
    assert_problem(await mark_paid(order.id, payment + 1), 409, "INVALID_ORDER_STATE")
    assert await pool.fetchval("SELECT payment_id FROM orders WHERE id = $1", order.id) == payment


async def test_a_payment_that_paid_one_order_cannot_pay_another(
    new_order, user, payment, mark_paid, status_of, assert_problem
):
    first, second = await new_order(user), await new_order(user)
    assert (await mark_paid(first.id, payment)).status_code == 200
    assert_problem(await mark_paid(second.id, payment), 409, "INVALID_ORDER_STATE")
    assert await status_of(second.id) == "PENDING_PAYMENT"


async def test_a_cancelled_order_cannot_be_paid(
    client, new_order, user, payment, mark_paid, status_of, assert_problem
):
    order = await new_order(user)
    await client.post(f"/api/v1/orders/{order.id}/cancel", headers=tokens.bearer(user))
    assert_problem(await mark_paid(order.id, payment), 409, "INVALID_ORDER_STATE")
    assert await status_of(order.id) == "CANCELLED"


async def test_marking_an_unknown_order_paid_is_not_found(payment, mark_paid, assert_problem):
    assert_problem(await mark_paid(987654321987, payment), 404, "ORDER_NOT_FOUND")


async def test_a_refund_moves_a_paid_order_to_refunded_once(
    new_order, user, payment, mark_paid, mark_refunded, pool
):
    order = await new_order(user)
    await mark_paid(order.id, payment)
    first = await mark_refunded(order.id, payment)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "REFUNDED" and first.json()["paymentId"] == payment
    stamped = await pool.fetchval("SELECT refunded_at FROM orders WHERE id = $1", order.id)
    again = await mark_refunded(order.id, payment)
    assert again.status_code == 200 and again.json() == first.json()
    assert await pool.fetchval("SELECT refunded_at FROM orders WHERE id = $1", order.id) == stamped


async def test_an_unpaid_order_cannot_be_refunded(
    new_order, user, payment, mark_refunded, status_of, assert_problem
):
    order = await new_order(user)
    assert_problem(await mark_refunded(order.id, payment), 409, "INVALID_ORDER_STATE")
    assert await status_of(order.id) == "PENDING_PAYMENT"


async def test_a_refund_for_another_payment_is_refused(
    new_order, user, payment, mark_paid, mark_refunded, status_of, assert_problem
):
    order = await new_order(user)
    await mark_paid(order.id, payment)
    assert_problem(await mark_refunded(order.id, payment + 1), 409, "INVALID_ORDER_STATE")
    assert await status_of(order.id) == "PAID"


async def test_a_refunded_order_cannot_be_paid_again(
    new_order, user, payment, mark_paid, mark_refunded, assert_problem
):
    order = await new_order(user)
    await mark_paid(order.id, payment)
    await mark_refunded(order.id, payment)
    assert_problem(await mark_paid(order.id, payment), 409, "INVALID_ORDER_STATE")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"paymentId": 1},
        {"paidAt": "2026-03-01T12:00:00Z"},
        {"paymentId": "1", "paidAt": "2026-03-01T12:00:00Z"},
        {"paymentId": 0, "paidAt": "2026-03-01T12:00:00Z"},
        {"paymentId": 2**63, "paidAt": "2026-03-01T12:00:00Z"},
        {"paymentId": 1, "paidAt": "2026-03-01T12:00:00"},  # no zone: not an instant
        {"paymentId": 1, "paidAt": "yesterday"},
        {"paymentId": 1, "paidAt": "2026-03-01T12:00:00Z", "amount": 5},
    ],
)
async def test_a_malformed_paid_step_is_refused(client, new_order, user, status_of, body, assert_problem):
    order = await new_order(user)
    answer = await client.put(f"/internal/v1/orders/{order.id}/paid", json=body, headers=tokens.service())
    assert_problem(answer, 400, "VALIDATION_FAILED")
    assert await status_of(order.id) == "PENDING_PAYMENT"


@pytest.mark.parametrize(
    ("headers", "status"),
    [(tokens.bearer(1), 403), (tokens.admin(), 403), ({}, 401)],
    ids=["user", "admin", "none"],
)
async def test_only_services_may_call_the_internal_api(
    client, new_order, user, payment, mark_paid, status_of, headers, status
):
    order = await new_order(user)
    assert (await mark_paid(order.id, payment, headers=headers)).status_code == status
    assert (await client.get(f"/internal/v1/orders/{order.id}", headers=headers)).status_code == status
    assert await status_of(order.id) == "PENDING_PAYMENT"


async def test_of_20_payments_racing_for_one_order_exactly_one_pays_it(
    new_order, user, payment, mark_paid, pool
):
    order = await new_order(user)
    answers = await asyncio.gather(*(mark_paid(order.id, payment + n) for n in range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19
    winner = next(a for a in answers if a.status_code == 200).json()["paymentId"]
    assert await pool.fetchval("SELECT payment_id FROM orders WHERE id = $1", order.id) == winner


async def test_one_payment_sent_20_times_at_once_pays_once(new_order, user, payment, mark_paid):
    order = await new_order(user)
    answers = await asyncio.gather(*(mark_paid(order.id, payment) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1


async def test_paid_orders_are_listed_oldest_first_for_the_ranking_backfill(
    client, new_order, user, fresh_id, mark_paid, pool
):
    paid, unpaid, refunded = await new_order(user), await new_order(user), await new_order(user)
    p1, p3 = fresh_id(), fresh_id()
    await mark_paid(paid.id, p1)
    await mark_paid(refunded.id, p3)
    await client.put(
        f"/internal/v1/orders/{refunded.id}/refunded",
        json={"paymentId": p3},
        headers=tokens.service("payment"),
    )
    listed, cursor = [], None
    while True:
        params = {"size": 1} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/internal/v1/orders/paid", params=params, headers=tokens.service("ranking"))
        assert page.status_code == 200, page.text
        listed += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    mine = [o for o in listed if o["orderId"] in (paid.id, unpaid.id, refunded.id)]
    assert [(o["orderId"], o["status"], o["paymentId"]) for o in mine] == [
        (paid.id, "PAID", p1),
        (refunded.id, "REFUNDED", p3),
    ]
    assert mine[1]["refundedAt"] is not None and mine[0]["refundedAt"] is None
    assert mine[0]["items"][0]["productName"] and mine[0]["items"][0]["quantity"] >= 1
    user_token = await client.get("/internal/v1/orders/paid", headers=tokens.bearer(user))
    assert user_token.status_code == 403


async def test_a_payment_completed_event_marks_the_order_paid_once(
    app, new_order, user, fresh_id, status_of, settings
):
    from datetime import UTC, datetime

    from commerce_contracts.events.payments import PaidLine, PaymentCompleted
    from commerce_contracts.registry import PAYMENT_COMPLETED
    from commerce_kit.messaging import create_broker, publish
    from commerce_kit.testing import eventually

    order, payment_id = await new_order(user), fresh_id()
    event = PaymentCompleted(
        payment_id=payment_id,
        order_id=order.id,
        user_id=user,
        amount=order.pay_amount,
        items=(PaidLine(product_id=10, option_id=101, quantity=1, unit_price=1),),
        paid_at=datetime.now(UTC),
    )
    broker = create_broker(settings, client_id="order-test-producer")
    await broker.start()
    try:
        await publish(broker, settings, PAYMENT_COMPLETED, event)
        await publish(broker, settings, PAYMENT_COMPLETED, event)  # redelivered: still once
        await eventually(lambda: _is(status_of(order.id), "PAID"), what="the order paid")
    finally:
        await broker.stop()


async def _is(value, expected) -> bool:
    return (await value) == expected
