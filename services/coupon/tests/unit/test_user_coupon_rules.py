"""A user coupon's life: issue, expiry, use and restore, without any infrastructure."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coupon_service.domain.errors import CouponUnavailable
from coupon_service.domain.policy import CouponPolicy
from coupon_service.domain.user_coupon import CouponStatus, UserCoupon

ISSUED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES_AT = ISSUED_AT + timedelta(days=30)
TICK = timedelta(microseconds=1)
ALICE, BOB = 2, 3
PAYMENT, OTHER_PAYMENT, ORDER = 500, 501, 900

POLICY = CouponPolicy.define(
    name="Welcome 10%",
    discount_type="RATE",
    discount_value=10,
    max_discount_amount=5_000,
    target_product_id=7,
    total_quantity=1_000,
    valid_days=30,
)


def alices_copy() -> UserCoupon:
    return replace(UserCoupon.issue(POLICY, 1, ALICE, ISSUED_AT), id=10)


def test_an_issued_copy_is_issued_and_expires_valid_days_later():
    copy = alices_copy()
    assert (copy.user_id, copy.coupon_id, copy.issued_at, copy.expires_at) == (
        ALICE,
        1,
        ISSUED_AT,
        EXPIRES_AT,
    )
    assert copy.status_at(ISSUED_AT) is CouponStatus.ISSUED
    assert copy.used_at is None and copy.used_by_payment_id is None and copy.order_id is None


def test_a_copy_keeps_the_terms_of_its_policy_at_issue_time():
    copy = alices_copy()
    changed_later = replace(POLICY, name="Welcome 50%", discount_value=50, max_discount_amount=None)
    assert copy.terms == POLICY.snapshot() != changed_later.snapshot()
    assert (copy.terms.name, copy.terms.discount_value, copy.terms.max_discount_amount) == (
        "Welcome 10%",
        10,
        5_000,
    )
    assert copy.terms.target_product_id == 7


def test_a_copy_is_usable_until_just_before_its_expiry_and_expired_at_that_exact_instant():
    copy = alices_copy()
    assert copy.status_at(EXPIRES_AT - TICK) is CouponStatus.ISSUED
    assert copy.status_at(EXPIRES_AT) is CouponStatus.EXPIRED
    assert copy.status_at(EXPIRES_AT + timedelta(days=400)) is CouponStatus.EXPIRED


def test_only_its_owner_may_use_a_copy_and_only_before_it_expires():
    copy = alices_copy()
    assert copy.usable_by(ALICE, EXPIRES_AT - TICK)
    assert not copy.usable_by(BOB, ISSUED_AT)
    assert not copy.usable_by(ALICE, EXPIRES_AT)


def test_using_a_copy_records_when_by_which_payment_and_for_which_order():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, EXPIRES_AT - TICK)
    assert used.status_at(EXPIRES_AT - TICK) is CouponStatus.USED
    assert (used.used_at, used.used_by_payment_id, used.order_id) == (EXPIRES_AT - TICK, PAYMENT, ORDER)


def test_a_used_copy_stays_used_after_its_expiry():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT)
    assert used.status_at(EXPIRES_AT + timedelta(days=1)) is CouponStatus.USED


def test_using_it_again_for_the_same_payment_changes_nothing():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT)
    assert used.use(PAYMENT, ALICE, ORDER, ISSUED_AT + timedelta(hours=1)) == used


@pytest.mark.parametrize(
    ("why", "payment", "user", "order", "at"),
    [
        ("another user's", PAYMENT, BOB, ORDER, ISSUED_AT),
        ("expired, at the exact instant", PAYMENT, ALICE, ORDER, EXPIRES_AT),
        ("expired long ago", PAYMENT, ALICE, ORDER, EXPIRES_AT + timedelta(days=3)),
    ],
)
def test_a_copy_that_is_not_usable_is_unavailable(why, payment, user, order, at):
    with pytest.raises(CouponUnavailable) as refused:
        alices_copy().use(payment, user, order, at)
    assert refused.value.status == 409 and refused.value.code == "COUPON_UNAVAILABLE"


def test_a_copy_used_by_one_payment_is_unavailable_to_another():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT)
    with pytest.raises(CouponUnavailable):
        used.use(OTHER_PAYMENT, ALICE, ORDER + 1, ISSUED_AT)


def test_the_same_payment_cannot_use_it_again_for_another_order():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT)
    with pytest.raises(CouponUnavailable):
        used.use(PAYMENT, ALICE, ORDER + 1, ISSUED_AT)


def test_restoring_it_for_the_payment_that_used_it_makes_it_issued_again():
    copy = alices_copy()
    restored = copy.use(PAYMENT, ALICE, ORDER, ISSUED_AT).restore(PAYMENT)
    assert restored == copy
    assert restored.status_at(ISSUED_AT) is CouponStatus.ISSUED


def test_a_copy_restored_after_its_expiry_is_shown_expired():
    restored = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT).restore(PAYMENT)
    assert restored.stored_status is CouponStatus.ISSUED
    assert restored.status_at(EXPIRES_AT) is CouponStatus.EXPIRED


def test_restoring_it_for_another_payment_changes_nothing():
    used = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT)
    assert used.restore(OTHER_PAYMENT) == used


def test_restoring_an_unused_copy_changes_nothing():
    copy = alices_copy()
    assert copy.restore(PAYMENT) == copy


def test_restoring_twice_is_restoring_once():
    once = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT).restore(PAYMENT)
    assert once.restore(PAYMENT) == once


def test_a_restored_copy_may_be_used_by_a_new_payment():
    restored = alices_copy().use(PAYMENT, ALICE, ORDER, ISSUED_AT).restore(PAYMENT)
    again = restored.use(OTHER_PAYMENT, ALICE, ORDER + 1, ISSUED_AT + timedelta(days=1))
    assert again.used_by_payment_id == OTHER_PAYMENT and again.order_id == ORDER + 1
