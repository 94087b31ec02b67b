"""Malformed requests get a 400 problem+json with a clear message and change nothing (SPEC.md
"Errors"): wrong types, missing fields, values out of bounds, unknown fields, bad JSON."""

import json

import pytest

from commerce_kit.testing import tokens

OPTION = {"name": "기본", "price": 1_000, "stock": 5}


def product(**changes) -> bytes:
    body = {"name": "상품", "description": "설명", "options": [OPTION]} | changes
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def with_option(**changes) -> bytes:
    return product(options=[{k: v for k, v in (OPTION | changes).items() if v is not ...}])


PRODUCT_BODIES = {
    "no body": None,
    "empty object": b"{}",
    "bad JSON": b'{"name": ',
    "not an object": b"[1]",
    "a bare string": b'"product"',
    "missing name": product(name=...),
    "missing options": product(options=...),
    "empty name": product(name=""),
    "blank name": product(name="   "),
    "name of 101 characters": product(name="가" * 101),
    "number for a name": product(name=7),
    "null name": product(name=None),
    "description of 2001 characters": product(description="가" * 2001),
    "number for a description": product(description=12),
    "no options": product(options=[]),
    "51 options": product(options=[OPTION] * 51),
    "options not a list": product(options=OPTION),
    "null option": product(options=[None]),
    "option without a name": with_option(name=...),
    "option without a price": with_option(price=...),
    "option without a stock": with_option(stock=...),
    "option name of 101 characters": with_option(name="x" * 101),
    "string for a price": with_option(price="1000"),
    "float price": with_option(price=1000.0),
    "fractional price": with_option(price=999.5),
    "boolean price": with_option(price=True),
    "negative price": with_option(price=-1),
    "price above 100,000,000": with_option(price=100_000_001),
    "price of 2^63": with_option(price=2**63),
    "huge exponent price": b'{"name": "a", "options": [{"name": "a", "price": 1e400, "stock": 1}]}',
    "negative stock": with_option(stock=-1),
    "stock above 1,000,000,000": with_option(stock=1_000_000_001),
    "string for a stock": with_option(stock="5"),
    "float stock": with_option(stock=5.0),
    "null stock": with_option(stock=None),
    "unknown field": product(category="과일"),
    "unknown option field": with_option(color="red"),
    "snake_case field": product(in_stock=True),
}


def assert_refused(answer):
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "VALIDATION_FAILED" and problem["status"] == 400 and problem["detail"]


@pytest.mark.parametrize("body", PRODUCT_BODIES.values(), ids=PRODUCT_BODIES.keys())
async def test_a_malformed_product_is_refused_and_nothing_is_created(client, pool, body):
    before = await pool.fetchval("SELECT count(*) FROM products")
    answer = await client.post(
        "/api/v1/admin/products", content=body, headers={**tokens.admin(), "Content-Type": "application/json"}
    )
    assert_refused(answer)
    assert await pool.fetchval("SELECT count(*) FROM products") == before


async def test_the_largest_allowed_values_are_accepted(client):
    body = {
        "name": "가" * 100,
        "description": "나" * 2000,
        "options": [{"name": "다" * 100, "price": 100_000_000, "stock": 1_000_000_000}] * 49
        + [{"name": "무료", "price": 0, "stock": 0}],
    }
    answer = await client.post("/api/v1/admin/products", json=body, headers=tokens.admin())
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["options"]) == 50


STOCK_BODIES = {
    "no body": None,
    "empty object": b"{}",
    "bad JSON": b'{"stock": ',
    "string": b'{"stock": "3"}',
    "float": b'{"stock": 3.0}',
    "boolean": b'{"stock": false}',
    "null": b'{"stock": null}',
    "negative": b'{"stock": -1}',
    "above 1,000,000,000": b'{"stock": 1000000001}',
    "2^64": b'{"stock": 18446744073709551616}',
    "unknown field": b'{"stock": 3, "reason": "recount"}',
    "a bare number": b"3",
}


@pytest.mark.parametrize("body", STOCK_BODIES.values(), ids=STOCK_BODIES.keys())
async def test_a_malformed_stock_is_refused_and_the_stock_stays(client, new_product, stock_of, body):
    product = await new_product((1_000, 7))
    option = product["options"][0]["id"]
    answer = await client.put(
        f"/api/v1/admin/products/{product['id']}/options/{option}/stock",
        content=body,
        headers={**tokens.admin(), "Content-Type": "application/json"},
    )
    assert_refused(answer)
    assert await stock_of(option) == 7


TAKE_BODIES = {
    "no body": None,
    "empty object": b"{}",
    "no lines": b'{"lines": []}',
    "101 lines": json.dumps({"lines": [{"optionId": i, "quantity": 1} for i in range(1, 102)]}).encode(),
    "line without a quantity": b'{"lines": [{"optionId": OPTION}]}',
    "line without an option": b'{"lines": [{"quantity": 1}]}',
    "zero quantity": b'{"lines": [{"optionId": OPTION, "quantity": 0}]}',
    "negative quantity": b'{"lines": [{"optionId": OPTION, "quantity": -1}]}',
    "string quantity": b'{"lines": [{"optionId": OPTION, "quantity": "1"}]}',
    "float quantity": b'{"lines": [{"optionId": OPTION, "quantity": 1.0}]}',
    "huge quantity": b'{"lines": [{"optionId": OPTION, "quantity": 9223372036854775808}]}',
    "string option id": b'{"lines": [{"optionId": "OPTION", "quantity": 1}]}',
    "option id 0": b'{"lines": [{"optionId": 0, "quantity": 1}]}',
    "option id 2^63": b'{"lines": [{"optionId": 9223372036854775808, "quantity": 1}]}',
    "unknown field": b'{"lines": [{"optionId": OPTION, "quantity": 1}], "userId": 1}',
    "unknown line field": b'{"lines": [{"optionId": OPTION, "quantity": 1, "price": 5}]}',
    "bad JSON": b'{"lines": [',
}


@pytest.mark.parametrize("body", TAKE_BODIES.values(), ids=TAKE_BODIES.keys())
async def test_a_malformed_stock_take_is_refused_and_records_nothing(
    client, new_product, stock_of, payment_id, body
):
    product = await new_product((1_000, 7))
    option, pid = product["options"][0]["id"], payment_id()
    content = (
        None
        if body is None
        else body.replace(b'"OPTION"', f'"{option}"'.encode()).replace(b"OPTION", str(option).encode())
    )
    answer = await client.put(
        f"/internal/v1/stock-takes/{pid}",
        content=content,
        headers={**tokens.service(), "Content-Type": "application/json"},
    )
    assert_refused(answer)
    assert await stock_of(option) == 7
    assert (await client.get(f"/internal/v1/stock-takes/{pid}", headers=tokens.service())).status_code == 404


LOOKUP_BODIES = {
    "no body": None,
    "empty object": b"{}",
    "no ids": b'{"optionIds": []}',
    "101 ids": json.dumps({"optionIds": list(range(1, 102))}).encode(),
    "string id": b'{"optionIds": ["1"]}',
    "id 0": b'{"optionIds": [0]}',
    "id 2^63": b'{"optionIds": [9223372036854775808]}',
    "not a list": b'{"optionIds": 1}',
    "unknown field": b'{"optionIds": [1], "fresh": true}',
}


@pytest.mark.parametrize("body", LOOKUP_BODIES.values(), ids=LOOKUP_BODIES.keys())
async def test_a_malformed_lookup_is_refused(client, body):
    answer = await client.post(
        "/internal/v1/options/lookup",
        content=body,
        headers={**tokens.service(), "Content-Type": "application/json"},
    )
    assert_refused(answer)


@pytest.mark.parametrize(
    "path_id", ["abc", "0", "-1", "1.5", "9223372036854775808", "99999999999999999999999"]
)
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/v1/products/{}"),
        ("PUT", "/api/v1/admin/products/{}/options/1/stock"),
        ("PUT", "/api/v1/admin/products/1/options/{}/stock"),
        ("GET", "/internal/v1/stock-takes/{}"),
        ("PUT", "/internal/v1/stock-takes/{}/give-back"),
    ],
)
async def test_a_malformed_id_in_the_path_is_refused(client, method, template, path_id):
    headers = tokens.service() if template.startswith("/internal") else tokens.admin()
    answer = await client.request(method, template.format(path_id), json={"stock": 1}, headers=headers)
    assert_refused(answer)


@pytest.mark.parametrize(
    "params", [{"size": 0}, {"size": 101}, {"size": "x"}, {"cursor": "not-a-cursor"}, {"cursor": "WyJhIl0"}]
)
async def test_bad_paging_parameters_are_refused(client, params):
    assert_refused(await client.get("/api/v1/products", params=params, headers=tokens.bearer(3)))


async def test_a_body_over_the_limit_is_refused_with_413(client, pool):
    before = await pool.fetchval("SELECT count(*) FROM products")
    body = product(description="x" * 70_000)
    answer = await client.post(
        "/api/v1/admin/products", content=body, headers={**tokens.admin(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await pool.fetchval("SELECT count(*) FROM products") == before


async def test_an_unknown_route_and_a_wrong_method_are_problems_too(client):
    missing = await client.get("/api/v1/nothing-here", headers=tokens.admin())
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )
    wrong = await client.delete("/api/v1/products/1", headers=tokens.admin())
    assert wrong.status_code == 405 and wrong.json()["code"] == "METHOD_NOT_ALLOWED"
