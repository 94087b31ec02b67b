"""The payment saga's state machine, without any I/O."""

import pytest

from payment_service.domain.saga import Saga, SagaError, Status, Step

S = Step


def run(saga: Saga, *steps: Step) -> Saga:
    for step in steps:
        saga = saga.attempting(step).succeeded(step)
    return saga


def test_the_forward_steps_follow_the_seeds_order():
    saga = Saga.start(has_coupon=True)
    order = []
    while (step := saga.next_step()) is not None:
        order.append(step)
        saga = saga.attempting(step).succeeded(step)
    assert order == [S.TAKE_STOCK, S.TAKE_BALANCE, S.USE_COUPON, S.MARK_ORDER_PAID]
    assert saga.status is Status.COMPLETED and saga.status.final


def test_without_a_coupon_the_coupon_step_is_skipped():
    saga = run(Saga.start(has_coupon=False), S.TAKE_STOCK, S.TAKE_BALANCE)
    assert saga.next_step() is S.MARK_ORDER_PAID


def test_no_stock_fails_at_once_with_nothing_to_undo():
    saga = Saga.start(has_coupon=True).attempting(S.TAKE_STOCK).refused(S.TAKE_STOCK, "option 3 short")
    assert saga.status is Status.FAILED and saga.failure_code == "INSUFFICIENT_STOCK"
    assert saga.next_step() is None


def test_a_short_balance_gives_the_stock_back():
    saga = run(Saga.start(has_coupon=True), S.TAKE_STOCK).attempting(S.TAKE_BALANCE)
    saga = saga.refused(S.TAKE_BALANCE, "short")
    assert saga.status is Status.COMPENSATING and saga.failure_code == "INSUFFICIENT_BALANCE"
    assert saga.next_step() is S.GIVE_BACK_STOCK
    saga = run(saga, S.GIVE_BACK_STOCK)
    assert saga.status is Status.FAILED and saga.failure_code == "INSUFFICIENT_BALANCE"


def test_an_unusable_coupon_gives_back_balance_then_stock():
    saga = run(Saga.start(has_coupon=True), S.TAKE_STOCK, S.TAKE_BALANCE).attempting(S.USE_COUPON)
    saga = saga.refused(S.USE_COUPON, "already used")
    undo = []
    while (step := saga.next_step()) is not None:
        undo.append(step)
        saga = saga.attempting(step).succeeded(step)
    assert undo == [S.GIVE_BACK_BALANCE, S.GIVE_BACK_STOCK]
    assert saga.status is Status.FAILED and saga.failure_code == "COUPON_UNAVAILABLE"


def test_an_order_no_longer_payable_undoes_everything_newest_first():
    saga = run(Saga.start(has_coupon=True), S.TAKE_STOCK, S.TAKE_BALANCE, S.USE_COUPON)
    saga = saga.attempting(S.MARK_ORDER_PAID).refused(S.MARK_ORDER_PAID, "order expired")
    undo = []
    while (step := saga.next_step()) is not None:
        undo.append(step)
        saga = saga.attempting(step).succeeded(step)
    assert undo == [S.RESTORE_COUPON, S.GIVE_BACK_BALANCE, S.GIVE_BACK_STOCK]
    assert saga.failure_code == "INVALID_ORDER_STATE"


def test_a_step_is_recorded_as_attempted_before_its_outcome():
    saga = Saga.start(has_coupon=False).attempting(S.TAKE_STOCK)
    assert saga.attempted is S.TAKE_STOCK and saga.next_step() is S.TAKE_STOCK  # resumed: sent again
    assert saga.succeeded(S.TAKE_STOCK).attempted is None


def test_steps_cannot_be_skipped_or_repeated():
    saga = Saga.start(has_coupon=False)
    with pytest.raises(SagaError):
        saga.attempting(S.TAKE_BALANCE)
    saga = run(saga, S.TAKE_STOCK)
    with pytest.raises(SagaError):
        saga.succeeded(S.TAKE_STOCK)
    with pytest.raises(SagaError):
        saga.refused(S.TAKE_STOCK, "again")


def test_undo_steps_cannot_be_refused():
    saga = (
        run(Saga.start(has_coupon=False), S.TAKE_STOCK)
        .attempting(S.TAKE_BALANCE)
        .refused(S.TAKE_BALANCE, "x")
    )
    with pytest.raises(SagaError):
        saga.refused(S.GIVE_BACK_STOCK, "no")


def test_a_refund_gives_everything_back_and_marks_the_order():
    paid = run(Saga.start(has_coupon=True), S.TAKE_STOCK, S.TAKE_BALANCE, S.USE_COUPON, S.MARK_ORDER_PAID)
    saga = paid.refund()
    steps = []
    while (step := saga.next_step()) is not None:
        steps.append(step)
        saga = saga.attempting(step).succeeded(step)
    assert steps == [S.GIVE_BACK_STOCK, S.GIVE_BACK_BALANCE, S.RESTORE_COUPON, S.MARK_ORDER_REFUNDED]
    assert saga.status is Status.REFUNDED and saga.status.final
    assert saga.refund() == saga  # refunding twice changes nothing


def test_a_refund_without_a_coupon_skips_the_restore():
    paid = run(Saga.start(has_coupon=False), S.TAKE_STOCK, S.TAKE_BALANCE, S.MARK_ORDER_PAID)
    assert S.RESTORE_COUPON not in paid.refund()._refund_plan()


@pytest.mark.parametrize("status", [Status.PENDING, Status.COMPENSATING, Status.FAILED])
def test_only_a_completed_payment_can_be_refunded(status):
    with pytest.raises(SagaError):
        Saga(status, has_coupon=False).refund()
