"""Admin operations (API.md "Products"): create products with options, set an option's stock."""

import pytest

from commerce_kit.testing import tokens


def assert_problem(answer, status, code):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]


async def test_an_admin_creates_a_product_with_its_options(client):
    body = {
        "name": "  제주 감귤 5kg ",
        "description": "산지 직송",
        "options": [
            {"name": "로얄과", "price": 32_900, "stock": 10},
            {"name": "못난이", "price": 17_900, "stock": 0},
        ],
    }
    answer = await client.post("/api/v1/admin/products", json=body, headers=tokens.admin())
    assert answer.status_code == 201, answer.text
    product = answer.json()
    assert product["id"] >= 1 and product["name"] == "제주 감귤 5kg" and product["description"] == "산지 직송"
    assert product["soldOut"] is False
    assert [(o["name"], o["price"], o["stock"]) for o in product["options"]] == [
        ("로얄과", 32_900, 10),
        ("못난이", 17_900, 0),
    ]
    assert product["options"][0]["id"] < product["options"][1]["id"]
    shown = await client.get(f"/api/v1/products/{product['id']}", headers=tokens.bearer(7))
    assert shown.json() == product


async def test_the_description_may_be_left_out(client):
    body = {"name": "머그컵", "options": [{"name": "기본", "price": 9_000, "stock": 1}]}
    answer = await client.post("/api/v1/admin/products", json=body, headers=tokens.admin())
    assert answer.status_code == 201 and answer.json()["description"] == ""


async def test_a_product_created_with_every_option_at_zero_is_sold_out(new_product):
    product = await new_product((1_000, 0), (2_000, 0))
    assert product["soldOut"] is True


async def test_the_in_stock_count_is_kept_from_the_start(new_product, pool):
    product = await new_product((1_000, 0), (2_000, 5), (3_000, 1))
    assert await pool.fetchval("SELECT in_stock_options FROM products WHERE id = $1", product["id"]) == 2


async def test_a_user_cannot_create_products(client):
    body = {"name": "x", "options": [{"name": "a", "price": 1, "stock": 1}]}
    assert_problem(
        await client.post("/api/v1/admin/products", json=body, headers=tokens.bearer(5)), 403, "FORBIDDEN"
    )
    assert_problem(await client.post("/api/v1/admin/products", json=body), 401, "UNAUTHENTICATED")


async def test_an_admin_sets_an_options_stock(client, new_product, set_stock):
    product = await new_product((5_000, 3), (6_000, 4))
    option = product["options"][1]
    assert await set_stock(product, option, 40) == {
        "id": option["id"],
        "name": "옵션 2",
        "price": 6_000,
        "stock": 40,
    }
    shown = (await client.get(f"/api/v1/products/{product['id']}", headers=tokens.bearer(7))).json()
    assert [o["stock"] for o in shown["options"]] == [3, 40]


async def test_setting_every_option_to_zero_makes_the_product_sold_out_and_back(
    client, new_product, set_stock
):
    product = await new_product((5_000, 3), (6_000, 4))
    for option in product["options"]:
        await set_stock(product, option, 0)
    shown = await client.get(f"/api/v1/products/{product['id']}", headers=tokens.bearer(7))
    assert shown.status_code == 200 and shown.json()["soldOut"] is True
    await set_stock(product, product["options"][0], 1)
    shown = await client.get(f"/api/v1/products/{product['id']}", headers=tokens.bearer(7))
    assert shown.json()["soldOut"] is False


async def test_setting_the_stock_of_an_unknown_product_is_product_not_found(client):
    answer = await client.put(
        "/api/v1/admin/products/987654321/options/1/stock", json={"stock": 1}, headers=tokens.admin()
    )
    assert_problem(answer, 404, "PRODUCT_NOT_FOUND")


async def test_setting_the_stock_of_an_unknown_option_is_option_not_found(client, new_product):
    product = await new_product((5_000, 3))
    answer = await client.put(
        f"/api/v1/admin/products/{product['id']}/options/987654321/stock",
        json={"stock": 1},
        headers=tokens.admin(),
    )
    assert_problem(answer, 404, "OPTION_NOT_FOUND")


async def test_an_option_of_another_product_is_not_found_and_keeps_its_stock(client, new_product, stock_of):
    mine, theirs = await new_product((5_000, 3)), await new_product((7_000, 8))
    their_option = theirs["options"][0]["id"]
    answer = await client.put(
        f"/api/v1/admin/products/{mine['id']}/options/{their_option}/stock",
        json={"stock": 1},
        headers=tokens.admin(),
    )
    assert_problem(answer, 404, "OPTION_NOT_FOUND")
    assert await stock_of(their_option) == 8


async def test_a_user_cannot_set_stock(client, new_product, stock_of):
    product = await new_product((5_000, 3))
    option = product["options"][0]["id"]
    answer = await client.put(
        f"/api/v1/admin/products/{product['id']}/options/{option}/stock",
        json={"stock": 0},
        headers=tokens.bearer(5),
    )
    assert_problem(answer, 403, "FORBIDDEN")
    assert await stock_of(option) == 3


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/products/1"])
async def test_reading_the_catalog_needs_a_token(client, path):
    assert_problem(await client.get(path), 401, "UNAUTHENTICATED")


async def test_health_and_docs_need_no_token_and_readiness_checks_postgres_and_kafka(client):
    for path in ("/health/live", "/openapi.json", "/docs"):
        assert (await client.get(path)).status_code == 200, path
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "UP", "kafka": "UP"}
