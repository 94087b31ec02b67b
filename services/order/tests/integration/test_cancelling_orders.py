"""Cancelling (SPEC.md section 4): the owner cancels an unpaid order; any other state is 409
INVALID_ORDER_STATE (a paid order's refund comes with the payment saga)."""

from commerce_kit.testing import tokens


async def cancel(client, order_id, user_id):
    return await client.post(f"/api/v1/orders/{order_id}/cancel", headers=tokens.bearer(user_id))


async def test_the_owner_cancels_an_unpaid_order(client, new_order, user, status_of):
    order = await new_order(user)
    answer = await cancel(client, order.id, user)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELLED" and answer.json()["orderId"] == order.id
    assert await status_of(order.id) == "CANCELLED"
    read = await client.get(f"/api/v1/orders/{order.id}", headers=tokens.bearer(user))
    assert read.json()["status"] == "CANCELLED"


async def test_cancelling_twice_is_an_invalid_order_state(client, new_order, user, assert_problem):
    order = await new_order(user)
    assert (await cancel(client, order.id, user)).status_code == 200
    assert_problem(await cancel(client, order.id, user), 409, "INVALID_ORDER_STATE")


async def test_cancelling_a_paid_order_asks_the_payment_service_for_a_refund_and_says_when_it_is_away(
    client, new_order, user, payment, mark_paid, status_of, assert_problem
):
    # The refund itself (stock, balance, coupon back; order REFUNDED) crosses the payment, catalog,
    # user and coupon services: it is tested end to end in /tests/e2e. Here the payment service is
    # not running: the answer says so, and the order stays PAID.
    order = await new_order(user)
    assert (await mark_paid(order.id, payment)).status_code == 200
    assert_problem(await cancel(client, order.id, user), 503, "DEPENDENCY_UNAVAILABLE")
    assert await status_of(order.id) == "PAID"


async def test_an_expired_order_cannot_be_cancelled(client, new_order, user, pool, expiry, assert_problem):
    order = await new_order(user)
    await pool.execute("UPDATE orders SET created_at = now() - interval '2 hours' WHERE id = $1", order.id)
    await expiry.run()
    assert_problem(await cancel(client, order.id, user), 409, "INVALID_ORDER_STATE")


async def test_only_the_owner_may_cancel_not_even_an_admin(
    client, new_order, user, status_of, assert_problem
):
    order = await new_order(user)
    for headers in (tokens.bearer(user + 1), tokens.admin()):
        answer = await client.post(f"/api/v1/orders/{order.id}/cancel", headers=headers)
        assert_problem(answer, 403, "FORBIDDEN")
    assert await status_of(order.id) == "PENDING_PAYMENT"


async def test_cancelling_an_unknown_order_is_not_found(client, user, assert_problem):
    assert_problem(await cancel(client, 987654321987, user), 404, "ORDER_NOT_FOUND")
