"""The amounts of an order (SPEC.md section 4), as a table: line = unit price x quantity; the
discount on the applicable lines (the target product's, or the whole order); RATE = floor(applicable
x rate / 100) capped by maxDiscountAmount; FIXED = min(value, applicable); pay = total - discount."""

import pytest

from order_service.domain.errors import CouponNotApplicable
from order_service.domain.order import AppliedCoupon, CouponTerms, DiscountType, OrderLine
from order_service.domain.placing import UserCoupon, discount, draft_order

RATE, FIXED = DiscountType.RATE, DiscountType.FIXED


def line(product_id: int, unit_price: int, quantity: int = 1, option_id: int | None = None) -> OrderLine:
    return OrderLine(
        product_id, option_id or product_id, f"product {product_id}", "option", unit_price, quantity
    )


def coupon(terms: CouponTerms) -> UserCoupon:
    return UserCoupon(user_coupon_id=7, user_id=1, coupon_id=3, status="ISSUED", terms=terms, expires_at=None)


# (lines, terms, total, discount, pay)
CASES = {
    "no coupon: pay the total": (
        [line(1, 10_000, 2), line(2, 5_000)],
        None,
        25_000,
        0,
        25_000,
    ),
    "rate on the whole order": (
        [line(1, 10_000, 2), line(2, 5_000)],
        CouponTerms(RATE, 10),
        25_000,
        2_500,
        22_500,
    ),
    "rate rounds down to whole KRW": (
        [line(1, 999)],
        CouponTerms(RATE, 15),  # 149.85
        999,
        149,
        850,
    ),
    "rate rounds down even just below the next won": (
        [line(1, 3_333, 3)],
        CouponTerms(RATE, 33),  # 9,999 x 33% = 3,299.67
        9_999,
        3_299,
        6_700,
    ),
    "rate capped when the cap is reached": (
        [line(1, 100_000, 3)],
        CouponTerms(RATE, 20, max_discount_amount=10_000),  # 60,000 before the cap
        300_000,
        10_000,
        290_000,
    ),
    "rate not capped when below the cap": (
        [line(1, 20_000)],
        CouponTerms(RATE, 20, max_discount_amount=10_000),  # 4,000
        20_000,
        4_000,
        16_000,
    ),
    "rate exactly at the cap": (
        [line(1, 50_000)],
        CouponTerms(RATE, 20, max_discount_amount=10_000),
        50_000,
        10_000,
        40_000,
    ),
    "rate on the target product's line only": (
        [line(1, 10_000, 2), line(2, 5_000)],
        CouponTerms(RATE, 50, target_product_id=2),
        25_000,
        2_500,
        22_500,
    ),
    "rate on every line of the target product": (
        [line(1, 10_000, option_id=11), line(2, 3_000), line(1, 7_000, 2, option_id=12)],
        CouponTerms(RATE, 10, target_product_id=1),  # (10,000 + 14,000) x 10%
        27_000,
        2_400,
        24_600,
    ),
    "100% rate makes the order free": (
        [line(1, 12_345, 2)],
        CouponTerms(RATE, 100),
        24_690,
        24_690,
        0,
    ),
    "100% rate on the target leaves the other lines to pay": (
        [line(1, 10_000), line(2, 4_000)],
        CouponTerms(RATE, 100, target_product_id=2),
        14_000,
        4_000,
        10_000,
    ),
    "1% of less than 100 KRW is nothing": (
        [line(1, 99)],
        CouponTerms(RATE, 1),
        99,
        0,
        99,
    ),
    "fixed below the applicable amount": (
        [line(1, 10_000, 2)],
        CouponTerms(FIXED, 3_000),
        20_000,
        3_000,
        17_000,
    ),
    "fixed above the applicable amount gives the applicable amount only": (
        [line(1, 2_000), line(2, 50_000)],
        CouponTerms(FIXED, 5_000, target_product_id=1),
        52_000,
        2_000,
        50_000,
    ),
    "fixed above the whole order: pay is 0, never negative": (
        [line(1, 1_500, 2)],
        CouponTerms(FIXED, 10_000),
        3_000,
        3_000,
        0,
    ),
    "fixed ignores a cap meant for rates": (
        [line(1, 50_000)],
        CouponTerms(FIXED, 5_000, max_discount_amount=1_000),
        50_000,
        5_000,
        45_000,
    ),
    "zero-price lines: the coupon applies and gives nothing": (
        [line(1, 0, 3), line(2, 8_000)],
        CouponTerms(FIXED, 5_000, target_product_id=1),
        8_000,
        0,
        8_000,
    ),
    "a free order with a rate coupon stays free": (
        [line(1, 0)],
        CouponTerms(RATE, 30),
        0,
        0,
        0,
    ),
    "a cap of 0 gives nothing": (
        [line(1, 10_000)],
        CouponTerms(RATE, 50, max_discount_amount=0),
        10_000,
        0,
        10_000,
    ),
}


@pytest.mark.parametrize(("lines", "terms", "total", "off", "pay"), CASES.values(), ids=CASES.keys())
def test_the_order_amounts(lines, terms, total, off, pay):
    draft = draft_order(1, tuple(lines), coupon(terms) if terms else None)
    assert (draft.total_amount, draft.discount_amount, draft.pay_amount) == (total, off, pay)
    assert draft.pay_amount >= 0
    if terms:
        assert draft.coupon == AppliedCoupon(7, 3, terms)  # the terms are snapshotted with the order


def test_a_line_amount_is_the_unit_price_times_the_quantity():
    assert line(1, 1_250, 8).line_amount == 10_000


@pytest.mark.parametrize(
    "terms",
    [CouponTerms(RATE, 10, target_product_id=3), CouponTerms(FIXED, 1_000, target_product_id=3)],
    ids=["rate", "fixed"],
)
def test_a_coupon_for_a_product_not_in_the_order_is_not_applicable(terms):
    with pytest.raises(CouponNotApplicable) as refused:
        discount(terms, [line(1, 10_000), line(2, 5_000)])
    assert refused.value.status == 409 and refused.value.code == "COUPON_NOT_APPLICABLE"


@pytest.mark.parametrize(
    ("kind", "value", "cap"),
    [(RATE, 0, None), (RATE, 101, None), (RATE, -5, None), (FIXED, -1, None), (RATE, 10, -1)],
)
def test_terms_no_coupon_may_have_are_refused(kind, value, cap):
    with pytest.raises(ValueError):
        CouponTerms(kind, value, max_discount_amount=cap)
