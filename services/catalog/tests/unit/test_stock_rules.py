"""The stock rules, without any infrastructure."""

import pytest

from catalog_service.domain.errors import InvalidStock, OptionNotFound
from catalog_service.domain.product import MAX_STOCK
from catalog_service.domain.stock import (
    Line,
    OptionStock,
    TakeStatus,
    give_back_all,
    in_stock_deltas,
    merge_lines,
    take_all,
)


def shop(*stocks: tuple[int, int, int]) -> dict[int, OptionStock]:
    """(option id, product id, stock) -> the options as the database would hand them over."""
    return {o: OptionStock(o, p, s) for o, p, s in stocks}


# --- lines ------------------------------------------------------------------------------------------


def test_lines_are_put_in_option_id_order_so_options_are_always_locked_in_that_order():
    assert merge_lines([(30, 1), (10, 2), (20, 3)]) == (Line(10, 2), Line(20, 3), Line(30, 1))


def test_lines_of_the_same_option_add_up():
    assert merge_lines([(7, 2), (3, 1), (7, 5)]) == (Line(3, 1), Line(7, 7))


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_line_needs_a_positive_quantity(quantity):
    with pytest.raises(InvalidStock):
        merge_lines([(1, quantity)])


def test_a_take_needs_a_line():
    with pytest.raises(InvalidStock):
        merge_lines([])


# --- take: all or nothing ---------------------------------------------------------------------------


def test_a_take_takes_every_line_when_every_option_has_enough():
    decision = take_all(shop((1, 100, 5), (2, 100, 3)), merge_lines([(1, 5), (2, 1)]))
    assert decision.status is TakeStatus.TAKEN
    assert [(c.after.option_id, c.after.stock, c.quantity) for c in decision.changes] == [
        (1, 0, 5),
        (2, 2, 1),
    ]
    assert decision.short_option_ids == ()


def test_a_take_with_one_short_option_takes_nothing_and_names_the_short_ones():
    decision = take_all(shop((1, 100, 5), (2, 100, 0), (3, 101, 1)), merge_lines([(1, 2), (2, 1), (3, 2)]))
    assert decision.status is TakeStatus.REFUSED
    assert decision.changes == ()
    assert decision.short_option_ids == (2, 3)
    assert [o.stock for o in decision.found] == [5, 0, 1]  # what the refusal shows


def test_a_take_of_exactly_the_stock_leaves_zero_never_less():
    decision = take_all(shop((1, 100, 3)), merge_lines([(1, 3)]))
    assert decision.changes[0].after.stock == 0
    assert take_all(shop((1, 100, 3)), merge_lines([(1, 4)])).status is TakeStatus.REFUSED


def test_repeated_lines_are_checked_against_the_stock_together():
    # 2 + 2 of an option with 3 left: short, although each line alone would fit.
    assert take_all(shop((1, 100, 3)), merge_lines([(1, 2), (1, 2)])).status is TakeStatus.REFUSED


def test_a_take_of_an_unknown_option_is_not_found():
    with pytest.raises(OptionNotFound) as missing:
        take_all(shop((1, 100, 5)), merge_lines([(1, 1), (9, 1)]))
    assert missing.value.status == 404 and missing.value.extra == {"optionIds": [9]}


def test_an_option_refuses_to_go_below_zero_on_its_own_too():
    with pytest.raises(InvalidStock):
        OptionStock(1, 100, 2).take(3)


# --- give back --------------------------------------------------------------------------------------


def test_a_give_back_returns_each_line_quantity():
    changes = give_back_all(shop((1, 100, 0), (2, 100, 7)), merge_lines([(1, 5), (2, 1)]))
    assert [(c.after.option_id, c.after.stock) for c in changes] == [(1, 5), (2, 8)]


def test_a_give_back_is_not_bounded_by_the_settable_stock_because_it_returns_what_was_taken():
    assert OptionStock(1, 100, MAX_STOCK).give_back(10).after.stock == MAX_STOCK + 10


# --- set --------------------------------------------------------------------------------------------


def test_an_admin_sets_any_stock_from_zero_to_the_maximum():
    assert OptionStock(1, 100, 5).set_to(0).after.stock == 0
    assert OptionStock(1, 100, 5).set_to(MAX_STOCK).after.stock == MAX_STOCK


@pytest.mark.parametrize("stock", [-1, MAX_STOCK + 1])
def test_a_stock_outside_the_bounds_cannot_be_set(stock):
    with pytest.raises(InvalidStock):
        OptionStock(1, 100, 5).set_to(stock)


# --- zero crossings: the product's in-stock option count ------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "crossing"),
    [(5, 0, -1), (0, 5, 1), (5, 3, 0), (0, 0, 0), (3, 5, 0)],
)
def test_a_change_crosses_zero_only_when_the_option_sells_out_or_comes_back(before, after, crossing):
    assert OptionStock(1, 100, before).set_to(after).crossing == crossing


def test_a_take_that_sells_out_options_lowers_their_products_counts():
    decision = take_all(
        shop((1, 100, 2), (2, 100, 1), (3, 200, 1), (4, 300, 9)),
        merge_lines([(1, 2), (2, 1), (3, 1), (4, 1)]),
    )
    assert in_stock_deltas(decision.changes) == [(100, -2), (200, -1)]


def test_a_give_back_to_sold_out_options_raises_their_products_counts():
    changes = give_back_all(shop((1, 100, 0), (2, 50, 0), (3, 50, 4)), merge_lines([(1, 1), (2, 3), (3, 1)]))
    assert in_stock_deltas(changes) == [(50, 1), (100, 1)]


def test_products_come_in_id_order_whatever_the_order_of_their_options():
    # Options 1 and 2 belong to products 900 and 5: the product rows are locked 5 first.
    changes = give_back_all(shop((1, 900, 0), (2, 5, 0)), merge_lines([(1, 1), (2, 1)]))
    assert [p for p, _ in in_stock_deltas(changes)] == [5, 900]


def test_a_change_that_crosses_no_zero_touches_no_product():
    decision = take_all(shop((1, 100, 9), (2, 200, 9)), merge_lines([(1, 1), (2, 8)]))
    assert in_stock_deltas(decision.changes) == []
