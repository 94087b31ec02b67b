"""What a product is, without any infrastructure."""

import pytest

from catalog_service.domain.errors import InvalidStock
from catalog_service.domain.product import MAX_OPTIONS, MAX_PRICE, MAX_STOCK, NewOption, NewProduct, sold_out


def test_a_product_counts_its_options_in_stock():
    product = NewProduct("귤", "", (NewOption("a", 1, 0), NewOption("b", 1, 3), NewOption("c", 1, 1)))
    assert product.in_stock_options == 2


@pytest.mark.parametrize("count", [0, MAX_OPTIONS + 1])
def test_a_product_has_one_to_fifty_options(count):
    with pytest.raises(InvalidStock):
        NewProduct("귤", "", tuple(NewOption("a", 1, 1) for _ in range(count)))


@pytest.mark.parametrize(("price", "stock"), [(-1, 0), (MAX_PRICE + 1, 0), (0, -1), (0, MAX_STOCK + 1)])
def test_an_option_has_a_bounded_price_and_stock(price, stock):
    with pytest.raises(InvalidStock):
        NewOption("a", price, stock)


def test_a_free_option_with_the_largest_stock_is_fine():
    assert NewOption("a", 0, MAX_STOCK).stock == MAX_STOCK


def test_a_product_is_sold_out_only_when_every_option_is_at_zero():
    assert sold_out([0, 0, 0])
    assert not sold_out([0, 1, 0])
