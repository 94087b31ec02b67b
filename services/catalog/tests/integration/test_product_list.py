"""The product list (SPEC.md section 2): only products with an option in stock, each with its lowest
in-stock price, newest first, cursor-paged; a product leaves the list as its last option sells out
and comes back with its stock."""

from commerce_kit.testing import tokens


async def page(client, **params) -> dict:
    answer = await client.get("/api/v1/products", params=params, headers=tokens.bearer(11))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def listed_down_to(client, lowest_id: int, size: int = 100) -> list[dict]:
    """Every listed product with an id >= `lowest_id`, walking the pages from the newest."""
    seen, cursor = [], None
    while True:
        body = await page(client, size=size, **({"cursor": cursor} if cursor else {}))
        seen += [p for p in body["items"] if p["id"] >= lowest_id]
        cursor = body["nextCursor"]
        if cursor is None or any(p["id"] < lowest_id for p in body["items"]):
            return seen


async def test_only_products_with_an_option_in_stock_are_listed_at_their_lowest_in_stock_price(
    client, new_product
):
    mixed = await new_product((5_000, 0), (7_000, 3), (6_000, 2))
    sold_out = await new_product((1_000, 0), (2_000, 0))
    single = await new_product((9_900, 1))
    listed = await listed_down_to(client, mixed["id"])
    assert [(p["id"], p["price"]) for p in listed] == [(single["id"], 9_900), (mixed["id"], 6_000)]
    assert sold_out["id"] not in {p["id"] for p in listed}
    assert listed[0] == {"id": single["id"], "name": "테스트 상품", "price": 9_900}


async def test_a_free_option_in_stock_lists_the_product_at_zero(client, new_product):
    free = await new_product((0, 1), (500, 1))
    assert (await listed_down_to(client, free["id"]))[0] == {
        "id": free["id"],
        "name": "테스트 상품",
        "price": 0,
    }


async def test_the_list_is_newest_first_and_cursor_paged(client, new_product):
    made = [await new_product((1_000 + i, 1)) for i in range(5)]
    ids: list[int] = []
    cursor, pages = None, 0
    while len(ids) < 5:
        body = await page(client, size=2, **({"cursor": cursor} if cursor else {}))
        assert len(body["items"]) <= 2
        ids += [p["id"] for p in body["items"]]
        cursor, pages = body["nextCursor"], pages + 1
        assert cursor is not None or len(ids) >= 5
    assert ids[:5] == [p["id"] for p in reversed(made)]
    assert pages == 3


async def test_the_last_page_has_no_next_cursor(client, new_product):
    await new_product((1_000, 1))
    first = await page(client, size=100)
    cursor, last = first["nextCursor"], first
    while cursor is not None:
        last = await page(client, size=100, cursor=cursor)
        cursor = last["nextCursor"]
    assert last["nextCursor"] is None
    # And the whole walk saw each product once, in strictly decreasing id order.
    everything = await listed_down_to(client, 1)
    ids = [p["id"] for p in everything]
    assert ids == sorted(set(ids), reverse=True)


async def test_a_product_leaves_the_list_when_its_last_option_sells_out_and_comes_back_with_stock(
    client, new_product, take, give_back, set_stock, payment_id
):
    product = await new_product((3_000, 1), (2_000, 2))
    cheap, dear = product["options"][1], product["options"][0]
    assert (await listed_down_to(client, product["id"]))[0]["price"] == 2_000  # and now cached

    assert (await take(payment_id(), (cheap["id"], 2))).json()["status"] == "TAKEN"
    assert (await listed_down_to(client, product["id"]))[0][
        "price"
    ] == 3_000  # at once: the cheap one is gone

    last = payment_id()
    assert (await take(last, (dear["id"], 1))).json()["status"] == "TAKEN"
    assert await listed_down_to(client, product["id"]) == []  # at once, not after the cache expires

    await set_stock(product, cheap, 5)
    assert (await listed_down_to(client, product["id"]))[0]["price"] == 2_000

    await set_stock(product, cheap, 0)
    assert await listed_down_to(client, product["id"]) == []
    assert (await give_back(last)).json()["status"] == "GIVEN_BACK"
    assert (await listed_down_to(client, product["id"]))[0]["price"] == 3_000


async def test_a_stock_change_that_crosses_no_zero_leaves_the_listing_as_it_was(
    client, new_product, set_stock
):
    product = await new_product((3_000, 10), (2_000, 20))
    await set_stock(product, product["options"][1], 7)
    assert (await listed_down_to(client, product["id"]))[0]["price"] == 2_000


async def test_the_in_stock_count_matches_the_options_after_all_these_changes(pool):
    wrong = await pool.fetchval(
        """
        SELECT count(*) FROM products p
        WHERE p.in_stock_options <> (SELECT count(*) FROM options o WHERE o.product_id = p.id AND o.stock > 0)
        """
    )
    assert wrong == 0
