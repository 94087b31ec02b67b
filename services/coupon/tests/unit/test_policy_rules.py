"""The coupon policy's rules, without any infrastructure."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from coupon_service.domain.errors import InvalidCoupon
from coupon_service.domain.policy import CouponPolicy, DiscountType, Snapshot

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rate(**changes):
    terms: dict[str, Any] = {
        "name": "Welcome 10%",
        "discount_type": "RATE",
        "discount_value": 10,
        "max_discount_amount": 5_000,
        "total_quantity": 1_000,
        "valid_days": 30,
    }
    return CouponPolicy.define(**(terms | changes))


def fixed(**changes):
    terms: dict[str, Any] = {
        "name": "3,000 won off",
        "discount_type": "FIXED",
        "discount_value": 3_000,
        "total_quantity": 100,
        "valid_days": 7,
    }
    return CouponPolicy.define(**(terms | changes))


def refused(make, **changes) -> str:
    with pytest.raises(InvalidCoupon) as error:
        make(**changes)
    assert error.value.status == 400 and error.value.code == "VALIDATION_FAILED"
    return error.value.detail


def test_a_rate_coupon_keeps_its_terms():
    policy = rate(target_product_id=7)
    assert policy.discount_type is DiscountType.RATE
    assert (policy.discount_value, policy.max_discount_amount, policy.target_product_id) == (10, 5_000, 7)


@pytest.mark.parametrize("value", [1, 100])
def test_a_rate_may_be_anything_from_1_to_100_percent(value):
    assert rate(discount_value=value).discount_value == value


@pytest.mark.parametrize("value", [0, -5, 101, 10**9])
def test_a_rate_outside_1_to_100_percent_is_refused(value):
    assert "1-100" in refused(rate, discount_value=value)


def test_a_rate_coupon_needs_no_cap():
    assert rate(max_discount_amount=None).max_discount_amount is None


@pytest.mark.parametrize("cap", [0, -1, 100_000_001])
def test_a_rate_coupons_cap_must_be_positive_and_sane(cap):
    assert "maxDiscountAmount" in refused(rate, max_discount_amount=cap)


@pytest.mark.parametrize("value", [1, 100_000_000])
def test_a_fixed_discount_may_be_1_to_100_million_won(value):
    assert fixed(discount_value=value).discount_value == value


@pytest.mark.parametrize("value", [0, -1, 100_000_001, 2**63 - 1])
def test_a_fixed_discount_outside_its_bounds_is_refused(value):
    assert "FIXED" in refused(fixed, discount_value=value)


def test_a_fixed_discount_has_no_cap():
    assert "RATE coupons only" in refused(fixed, max_discount_amount=1_000)


def test_only_rate_and_fixed_discounts_exist():
    assert "RATE or FIXED" in refused(rate, discount_type="PERCENT")


@pytest.mark.parametrize("quantity", [1, 10_000_000])
def test_the_total_quantity_may_be_1_to_10_million(quantity):
    assert rate(total_quantity=quantity).total_quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, 10_000_001])
def test_a_total_quantity_outside_1_to_10_million_is_refused(quantity):
    assert "totalQuantity" in refused(rate, total_quantity=quantity)


@pytest.mark.parametrize("days", [1, 3650])
def test_a_copy_may_be_valid_1_to_3650_days(days):
    assert rate(valid_days=days).valid_days == days


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_a_validity_outside_1_to_3650_days_is_refused(days):
    assert "validDays" in refused(rate, valid_days=days)


def test_the_name_is_trimmed():
    assert rate(name="  Spring  ").name == "Spring"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_name_must_have_1_to_100_characters(name):
    assert "name" in refused(rate, name=name)


def test_a_target_product_must_be_a_product_id():
    assert "targetProductId" in refused(rate, target_product_id=0)


def test_an_issue_window_needs_its_start_before_its_end():
    policy = rate(issue_start_at=NOON, issue_end_at=NOON + timedelta(days=7))
    assert policy.issue_end_at - policy.issue_start_at == timedelta(days=7)
    assert "before" in refused(rate, issue_start_at=NOON, issue_end_at=NOON)
    assert "before" in refused(rate, issue_start_at=NOON, issue_end_at=NOON - timedelta(seconds=1))


def test_the_window_compares_instants_not_wall_clock_times():
    seoul = timezone(timedelta(hours=9))
    # 20:00 in Seoul is 11:00 UTC, one hour before NOON: a valid window although 20 > 12.
    assert rate(issue_start_at=datetime(2026, 3, 1, 20, 0, tzinfo=seoul), issue_end_at=NOON)
    assert "before" in refused(rate, issue_start_at=NOON, issue_end_at=datetime(2026, 3, 1, 20, tzinfo=seoul))


@pytest.mark.parametrize("field", ["issue_start_at", "issue_end_at"])
def test_a_window_time_without_an_offset_is_refused(field):
    assert "offset" in refused(rate, **{field: datetime(2026, 3, 1, 12, 0)})


def test_a_window_may_have_only_one_end():
    assert rate(issue_start_at=NOON).issue_end_at is None
    assert rate(issue_end_at=NOON).issue_start_at is None


def test_the_window_is_open_from_its_start_until_just_before_its_end():
    policy = rate(issue_start_at=NOON, issue_end_at=NOON + timedelta(hours=1))
    tick = timedelta(microseconds=1)
    assert not policy.window_open_at(NOON - tick)
    assert policy.window_open_at(NOON)
    assert policy.window_open_at(NOON + timedelta(hours=1) - tick)
    assert not policy.window_open_at(NOON + timedelta(hours=1))


def test_without_a_window_a_coupon_is_always_open():
    assert rate().window_open_at(NOON) and rate().window_open_at(datetime(2999, 1, 1, tzinfo=UTC))


def test_a_copy_expires_valid_days_after_the_instant_it_was_issued():
    assert rate(valid_days=30).expiry_of_copy_issued_at(NOON) == NOON + timedelta(days=30)


def test_the_snapshot_carries_the_terms_a_copy_keeps():
    assert rate(target_product_id=9).snapshot() == Snapshot("Welcome 10%", DiscountType.RATE, 10, 5_000, 9)
    assert fixed().snapshot() == Snapshot("3,000 won off", DiscountType.FIXED, 3_000, None, None)
