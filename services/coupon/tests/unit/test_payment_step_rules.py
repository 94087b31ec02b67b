"""The payment saga's coupon step (domain.payment_steps): idempotent on the payment id, with a
tombstone for a restore that comes before its use. Without any infrastructure."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coupon_service.domain import payment_steps as steps
from coupon_service.domain.errors import CouponUnavailable
from coupon_service.domain.payment_steps import PaymentStep, StepStatus
from coupon_service.domain.policy import CouponPolicy
from coupon_service.domain.user_coupon import CouponStatus, UserCoupon

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, PAYMENT, ORDER = 2, 500, 900

POLICY = CouponPolicy.define(
    name="3,000 won off", discount_type="FIXED", discount_value=3_000, total_quantity=10, valid_days=7
)


def copy(copy_id: int = 10) -> UserCoupon:
    return replace(UserCoupon.issue(POLICY, 1, ALICE, NOW), id=copy_id)


def use(coupon, step, payment=PAYMENT):
    return steps.use(coupon, step, payment_id=payment, user_id=ALICE, order_id=ORDER, now=NOW)


def test_a_first_use_uses_the_coupon_and_records_the_step():
    used, step = use(copy(), None)
    assert used.status_at(NOW) is CouponStatus.USED
    assert step == PaymentStep(PAYMENT, 10, StepStatus.USED)


def test_a_retried_use_answers_the_same_and_changes_nothing():
    used, step = use(copy(), None)
    assert use(used, step) == (used, step)


def test_a_restore_gives_back_what_the_payment_used_and_remembers_it():
    original = copy()
    used, step = use(original, None)
    restored, after = steps.restore(used, step, payment_id=PAYMENT)
    assert restored == original and after == PaymentStep(PAYMENT, 10, StepStatus.RESTORED)
    assert steps.restore(restored, after, payment_id=PAYMENT) == (restored, after)


def test_a_payment_that_gave_its_coupon_back_never_uses_it_again():
    used, step = use(copy(), None)
    restored, after = steps.restore(used, step, payment_id=PAYMENT)
    with pytest.raises(CouponUnavailable):
        use(restored, after)


def test_a_restore_before_any_use_leaves_a_tombstone_and_changes_nothing_else():
    original = copy()
    restored, step = steps.restore(original, None, payment_id=PAYMENT)
    assert restored == original and step == PaymentStep(PAYMENT, 10, StepStatus.VOIDED)


def test_a_late_use_after_the_tombstone_is_refused():
    _, tombstone = steps.restore(copy(), None, payment_id=PAYMENT)
    with pytest.raises(CouponUnavailable) as refused:
        use(copy(), tombstone)
    assert refused.value.code == "COUPON_UNAVAILABLE"


def test_a_payment_bound_to_one_coupon_cannot_use_another():
    _, step = use(copy(10), None)
    with pytest.raises(CouponUnavailable):
        use(copy(11), step)


def test_restoring_a_coupon_the_payment_did_not_use_changes_nothing():
    _, step = use(copy(10), None)
    other = copy(11)
    assert steps.restore(other, step, payment_id=PAYMENT) == (other, step)


def test_a_restore_for_another_payment_leaves_the_used_coupon_used():
    used, _ = use(copy(), None)
    restored, step = steps.restore(used, None, payment_id=PAYMENT + 1)
    assert restored == used and step.status is StepStatus.VOIDED


def test_the_coupon_rules_still_apply_to_a_first_use():
    expired_now = NOW + timedelta(days=7)
    with pytest.raises(CouponUnavailable):
        steps.use(copy(), None, payment_id=PAYMENT, user_id=ALICE, order_id=ORDER, now=expired_now)
