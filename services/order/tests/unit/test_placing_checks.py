"""The checks of a new order, in the seed's order (SPEC.md section 4): each option exists, belongs
to its product and has the stock; then the coupon is the user's, ISSUED, not expired, and applies."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from order_service.domain.errors import (
    CouponNotApplicable,
    CouponUnavailable,
    DuplicateOption,
    InsufficientStock,
    OptionNotFound,
    OrderTooLarge,
    ProductNotFound,
)
from order_service.domain.order import CouponTerms, DiscountType, OrderLine
from order_service.domain.placing import (
    CatalogOption,
    RequestedLine,
    UserCoupon,
    draft_order,
    priced_lines,
    refuse_duplicate_options,
    usable_coupon,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHIRT_M = CatalogOption(101, 10, "T-shirt", "M", 12_000, 5)
SHIRT_L = CatalogOption(102, 10, "T-shirt", "L", 13_000, 0)
MUG = CatalogOption(201, 20, "Mug", "White", 8_500, 3)
CATALOG = {o.option_id: o for o in (SHIRT_M, SHIRT_L, MUG)}


def lines(*triples: tuple[int, int, int]) -> list[RequestedLine]:
    return [RequestedLine(*t) for t in triples]


# --- the lines ----------------------------------------------------------------------------------


def test_lines_are_priced_and_named_by_the_catalog():
    priced = priced_lines(lines((10, 101, 2), (20, 201, 3)), CATALOG)
    assert priced == (
        OrderLine(10, 101, "T-shirt", "M", 12_000, 2),
        OrderLine(20, 201, "Mug", "White", 8_500, 3),
    )


def test_an_unknown_option_of_a_product_the_catalog_knows_is_option_not_found():
    with pytest.raises(OptionNotFound) as refused:
        priced_lines(lines((10, 101, 1), (10, 999, 1)), CATALOG)
    assert refused.value.status == 404 and "999" in refused.value.detail
    assert refused.value.extra == {"optionIds": [999]}


def test_an_unknown_product_is_product_not_found():
    # Neither the option nor any option of the product is in the catalog.
    with pytest.raises(ProductNotFound) as refused:
        priced_lines(lines((10, 101, 1), (77, 777, 1)), CATALOG)
    assert refused.value.status == 404 and refused.value.code == "PRODUCT_NOT_FOUND"
    assert "77" in refused.value.detail


def test_when_the_catalog_says_which_products_exist_an_unknown_option_is_told_apart_exactly():
    with pytest.raises(OptionNotFound):
        priced_lines(lines((20, 999, 1)), CATALOG, known_products={10, 20})
    with pytest.raises(ProductNotFound):
        priced_lines(lines((30, 999, 1)), CATALOG, known_products={10, 20})


def test_an_option_of_another_product_is_option_not_found_naming_both_products():
    with pytest.raises(OptionNotFound) as refused:
        priced_lines(lines((20, 101, 1)), CATALOG)
    assert "belongs to product 10, not to product 20" in refused.value.detail


def test_an_existing_option_under_an_unknown_product_is_option_not_found_too():
    with pytest.raises(OptionNotFound) as refused:
        priced_lines(lines((99, 101, 1)), CATALOG)
    assert "belongs to product 10" in refused.value.detail


@pytest.mark.parametrize(("option", "quantity"), [(101, 6), (102, 1), (201, 4)])
def test_a_quantity_above_the_stock_is_insufficient_stock(option, quantity):
    product = CATALOG[option].product_id
    with pytest.raises(InsufficientStock) as refused:
        priced_lines(lines((product, option, quantity)), CATALOG)
    assert refused.value.status == 409 and refused.value.extra == {"optionIds": [option]}


def test_the_whole_stock_may_be_ordered():
    assert priced_lines(lines((10, 101, 5), (20, 201, 3)), CATALOG)[0].quantity == 5


def test_existence_is_checked_before_ownership_and_ownership_before_stock_whatever_the_line_order():
    short, misplaced, missing = (10, 102, 1), (20, 101, 1), (10, 999, 1)
    with pytest.raises(OptionNotFound) as refused:
        priced_lines(lines(short, misplaced, missing), CATALOG)
    assert "no option 999" in refused.value.detail
    with pytest.raises(OptionNotFound) as refused:
        priced_lines(lines(short, misplaced), CATALOG)
    assert "belongs to product 10" in refused.value.detail


def test_every_short_option_is_named():
    with pytest.raises(InsufficientStock) as refused:
        priced_lines(lines((10, 101, 6), (20, 201, 1), (10, 102, 1)), CATALOG)
    assert refused.value.extra == {"optionIds": [101, 102]}


def test_one_option_on_two_lines_is_refused_with_a_reason():
    with pytest.raises(DuplicateOption) as refused:
        refuse_duplicate_options(lines((10, 101, 1), (20, 201, 1), (10, 101, 2)))
    assert refused.value.status == 400 and refused.value.code == "VALIDATION_FAILED"
    assert "one line" in refused.value.detail


def test_an_order_too_large_for_a_bigint_is_refused():
    dear = CatalogOption(1, 1, "Yacht", "Gold", 2**62, 1000)
    priced = priced_lines(lines((1, 1, 2)), {1: dear})
    with pytest.raises(OrderTooLarge):
        draft_order(1, priced, None)


# --- the coupon ---------------------------------------------------------------------------------

USER = 9


def user_coupon(**changes) -> UserCoupon:
    fields: dict[str, Any] = {
        "user_coupon_id": 7,
        "user_id": USER,
        "coupon_id": 3,
        "status": "ISSUED",
        "terms": CouponTerms(DiscountType.FIXED, 1_000),
        "expires_at": NOW + timedelta(days=1),
    } | changes
    return UserCoupon(**fields)


def test_the_users_issued_unexpired_coupon_is_usable():
    assert usable_coupon(user_coupon(), 7, USER, NOW) == user_coupon()


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (None, "not one of your coupons"),
        (user_coupon(user_id=USER + 1), "not one of your coupons"),
        (user_coupon(status="USED"), "USED"),
        (user_coupon(status="EXPIRED"), "EXPIRED"),
        (user_coupon(expires_at=NOW), "expired"),
        (user_coupon(expires_at=NOW - timedelta(seconds=1)), "expired"),
    ],
    ids=["unknown", "another user's", "used", "expired", "expiring now", "past its expiry"],
)
def test_a_coupon_that_is_not_the_users_to_use_now_is_unavailable(found, reason):
    with pytest.raises(CouponUnavailable) as refused:
        usable_coupon(found, 7, USER, NOW)
    assert refused.value.status == 409 and reason in refused.value.detail


def test_an_unknown_coupon_and_another_users_coupon_get_the_same_answer():
    answers = []
    for found in (None, user_coupon(user_id=USER + 1)):
        with pytest.raises(CouponUnavailable) as refused:
            usable_coupon(found, 7, USER, NOW)
        answers.append(refused.value.problem())
    assert answers[0] == answers[1]


def test_a_coupon_for_a_product_outside_the_order_is_not_applicable():
    coupon = user_coupon(terms=CouponTerms(DiscountType.RATE, 10, target_product_id=20))
    with pytest.raises(CouponNotApplicable):
        draft_order(USER, priced_lines(lines((10, 101, 1)), CATALOG), coupon)
