"""The order's life (SPEC.md section 4): PENDING_PAYMENT -> PAID | CANCELLED | EXPIRED, PAID ->
REFUNDED; a move repeated for the same payment changes nothing; anything else is INVALID_ORDER_STATE."""

from datetime import UTC, datetime

import pytest

from order_service.domain.errors import InvalidOrderState
from order_service.domain.order import Order, OrderLine, OrderStatus

PENDING, PAID, CANCELLED, EXPIRED, REFUNDED = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.CANCELLED,
    OrderStatus.EXPIRED,
    OrderStatus.REFUNDED,
)
PAYMENT, OTHER_PAYMENT = 555, 556


def order(status: OrderStatus, payment_id: int | None = None) -> Order:
    return Order(
        id=1,
        user_id=9,
        status=status,
        lines=(OrderLine(10, 101, "T-shirt", "M", 12_000, 1),),
        total_amount=12_000,
        discount_amount=0,
        pay_amount=12_000,
        coupon=None,
        payment_id=payment_id
        if payment_id is not None
        else (PAYMENT if status in (PAID, REFUNDED) else None),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


MOVES = {
    "pay": lambda o: o.pay(PAYMENT),
    "cancel": lambda o: o.cancel(),
    "expire": lambda o: o.expire(),
    "refund": lambda o: o.refund(PAYMENT),
}

# (from, move, to); every pair not listed is refused
ALLOWED = [
    (PENDING, "pay", PAID),
    (PENDING, "cancel", CANCELLED),
    (PENDING, "expire", EXPIRED),
    (PAID, "refund", REFUNDED),
]
REPEATS = [(PAID, "pay"), (REFUNDED, "refund")]  # the same payment again: the order as it is
REFUSED = [
    (status, move)
    for status in OrderStatus
    for move in MOVES
    if (status, move) not in {(f, m) for f, m, _ in ALLOWED} | set(REPEATS)
]


@pytest.mark.parametrize(("start", "move", "end"), ALLOWED, ids=[f"{f}-{m}" for f, m, _ in ALLOWED])
def test_an_allowed_move_gives_a_new_order_in_the_new_state(start, move, end):
    before = order(start)
    after = MOVES[move](before)
    assert after.status is end and after is not before
    assert before.status is start  # orders are immutable: the caller writes the new one
    assert after.payment_id == PAYMENT if end in (PAID, REFUNDED) else after.payment_id is None


@pytest.mark.parametrize(("start", "move"), REPEATS, ids=[f"{f}-{m}" for f, m in REPEATS])
def test_the_same_move_for_the_same_payment_again_changes_nothing(start, move):
    before = order(start)
    assert MOVES[move](before) is before


@pytest.mark.parametrize(("start", "move"), REFUSED, ids=[f"{f}-{m}" for f, m in REFUSED])
def test_every_other_move_is_an_invalid_order_state(start, move):
    with pytest.raises(InvalidOrderState) as refused:
        MOVES[move](order(start))
    assert refused.value.status == 409 and refused.value.code == "INVALID_ORDER_STATE"
    assert start.value in refused.value.detail


def test_paying_an_order_paid_by_another_payment_is_refused():
    with pytest.raises(InvalidOrderState):
        order(PAID).pay(OTHER_PAYMENT)


@pytest.mark.parametrize("start", [PAID, REFUNDED])
def test_refunding_for_another_payment_than_the_one_that_paid_is_refused(start):
    with pytest.raises(InvalidOrderState) as refused:
        order(start).refund(OTHER_PAYMENT)
    assert str(PAYMENT) in refused.value.detail


def test_a_paid_order_cannot_be_cancelled_until_refunds_exist():
    # The seam for the refund saga: cancelling a PAID order will become a refund (PAID -> REFUNDED).
    with pytest.raises(InvalidOrderState):
        order(PAID).cancel()
    assert order(PAID).refund(PAYMENT).status is REFUNDED
