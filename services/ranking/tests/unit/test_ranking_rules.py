"""The order of the popular-products list: quantity, most first; ties by the smaller product id."""

from ranking_service.domain.ranking import ProductTotal, RankedProduct, display_name, rank


def test_products_are_ranked_by_quantity_sold_most_first():
    ranked = rank([ProductTotal(1, 5, "A"), ProductTotal(2, 9, "B"), ProductTotal(3, 7, "C")], 5)
    assert ranked == [
        RankedProduct(1, 2, "B", 9),
        RankedProduct(2, 3, "C", 7),
        RankedProduct(3, 1, "A", 5),
    ]


def test_equal_quantities_are_broken_by_the_smaller_product_id_first():
    ranked = rank([ProductTotal(30, 4), ProductTotal(10, 4), ProductTotal(20, 4), ProductTotal(5, 1)], 5)
    assert [(r.rank, r.product_id) for r in ranked] == [(1, 10), (2, 20), (3, 30), (4, 5)]


def test_the_same_totals_in_any_order_give_the_same_list():
    totals = [ProductTotal(p, q) for p, q in [(4, 2), (1, 2), (9, 8), (2, 8), (7, 1)]]
    assert rank(totals, 5) == rank(list(reversed(totals)), 5) == rank(sorted(totals, key=id), 5)


def test_only_the_first_limit_products_are_listed():
    ranked = rank([ProductTotal(p, 100 - p) for p in range(1, 20)], 3)
    assert [r.product_id for r in ranked] == [1, 2, 3]


def test_a_product_whose_sales_were_all_refunded_is_not_listed():
    ranked = rank([ProductTotal(1, 0), ProductTotal(2, 3), ProductTotal(3, -1)], 5)
    assert [r.product_id for r in ranked] == [2]


def test_a_product_no_event_ever_named_is_called_product_and_its_id():
    assert display_name(42, None) == "Product 42"
    assert display_name(42, "Tea") == "Tea"
    assert rank([ProductTotal(42, 1)], 1)[0].name == "Product 42"
