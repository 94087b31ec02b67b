"""The product detail (SPEC.md section 2): every option with its stock; soldOut, still 200, when
every option is at 0; 404 for an unknown product."""

from commerce_kit.testing import tokens


async def detail(client, product_id):
    return await client.get(f"/api/v1/products/{product_id}", headers=tokens.bearer(21))


async def test_the_detail_shows_every_option_in_id_order(client, new_product):
    product = await new_product((5_000, 3), (4_000, 0), (6_000, 1))
    answer = await detail(client, product["id"])
    assert answer.status_code == 200
    assert answer.json() == {
        "id": product["id"],
        "name": "테스트 상품",
        "description": "테스트용",
        "soldOut": False,
        "options": [
            {"id": product["options"][0]["id"], "name": "옵션 1", "price": 5_000, "stock": 3},
            {"id": product["options"][1]["id"], "name": "옵션 2", "price": 4_000, "stock": 0},
            {"id": product["options"][2]["id"], "name": "옵션 3", "price": 6_000, "stock": 1},
        ],
    }


async def test_a_product_whose_options_all_sold_out_is_shown_as_sold_out_not_as_an_error(
    client, new_product, take, payment_id
):
    product = await new_product((5_000, 1), (4_000, 2))
    assert (await detail(client, product["id"])).json()["soldOut"] is False  # cached now
    first, second = product["options"]
    assert (await take(payment_id(), (first["id"], 1), (second["id"], 2))).json()["status"] == "TAKEN"
    answer = await detail(client, product["id"])
    assert answer.status_code == 200
    assert answer.json()["soldOut"] is True and [o["stock"] for o in answer.json()["options"]] == [0, 0]


async def test_an_unknown_product_is_not_found(client):
    answer = await detail(client, 987654321)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "PRODUCT_NOT_FOUND"


async def test_this_instances_own_stock_changes_show_at_once_despite_the_cache(
    client, new_product, set_stock, take, give_back, payment_id
):
    product = await new_product((5_000, 10))
    option = product["options"][0]
    assert (await detail(client, product["id"])).json()["options"][0]["stock"] == 10
    await set_stock(product, option, 8)
    assert (await detail(client, product["id"])).json()["options"][0]["stock"] == 8
    pid = payment_id()
    await take(pid, (option["id"], 3))
    assert (await detail(client, product["id"])).json()["options"][0]["stock"] == 5
    await give_back(pid)
    assert (await detail(client, product["id"])).json()["options"][0]["stock"] == 8


async def test_a_query_parameter_the_route_does_not_take_changes_nothing(client, new_product):
    """An extra query parameter (a tracking tag) is ignored: the answer, an unknown product's
    problem included, is the one given without it."""
    product = await new_product((5_000, 3))
    headers = tokens.bearer(21)
    for path in (
        f"/api/v1/products/{product['id']}",
        "/api/v1/products?size=5",
        "/api/v1/products/987654321",
    ):
        joiner = "&" if "?" in path else "?"
        bare = await client.get(path, headers=headers)
        tagged = await client.get(f"{path}{joiner}utm=ad", headers=headers)
        assert bare.status_code == tagged.status_code and bare.status_code in (200, 404), path
        assert bare.json() == tagged.json(), path
        assert bare.headers["content-type"] == tagged.headers["content-type"], path
