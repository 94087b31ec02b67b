"""Bad text in a product is a 400 VALIDATION_FAILED and stores nothing: control characters (a
description may hold tabs and line breaks), lone surrogates and over-long strings, in the product's
name, its description and an option's name (API.md "Errors")."""

import json

import pytest

from commerce_kit.testing import tokens

OPTION = {"name": "기본", "price": 1_000, "stock": 5}
BAD_LINES = {
    "NUL": "상품\x00",
    "bell": "상품\x07",
    "line feed inside": "상\n품",
    "tab inside": "상\t품",
    "DEL": "상품\x7f",
    "C1 control (NEL)": "상\x85품",
    "lone surrogate": "상품\udc00",
    "101 characters": "가" * 101,
}
BAD_DESCRIPTIONS = {
    "NUL": "설명\x00",
    "vertical tab": "설명\x0b",
    "form feed": "설명\x0c",
    "escape": "설명\x1b",
    "C1 control": "설명\x9f",
    "lone surrogate": "설명\ud834",
    "2001 characters": "가" * 2001,
}

CASES = {
    **{f"product name, {k}": {"name": v} for k, v in BAD_LINES.items()},
    **{f"option name, {k}": {"options": [OPTION | {"name": v}]} for k, v in BAD_LINES.items()},
    **{f"description, {k}": {"description": v} for k, v in BAD_DESCRIPTIONS.items()},
}


async def counts(pool) -> tuple[int, int]:
    row = await pool.fetchrow("SELECT (SELECT count(*) FROM products) p, (SELECT count(*) FROM options) o")
    return row["p"], row["o"]


@pytest.mark.parametrize("change", CASES.values(), ids=CASES.keys())
async def test_a_product_with_bad_text_is_refused_and_not_stored(client, pool, change):
    body = {"name": "상품", "description": "설명", "options": [OPTION]} | change
    before = await counts(pool)
    answer = await client.post(
        "/api/v1/admin/products",
        content=json.dumps(body).encode(),  # ensure_ascii: controls and lone surrogates as \u escapes
        headers={**tokens.admin(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "VALIDATION_FAILED"
    assert await counts(pool) == before


async def test_a_description_keeps_its_tabs_and_line_breaks(client):
    body = {"name": "상품", "description": "첫 줄\r\n\t둘째 줄\n", "options": [OPTION]}
    answer = await client.post("/api/v1/admin/products", json=body, headers=tokens.admin())
    assert answer.status_code == 201, answer.text
    assert answer.json()["description"] == "첫 줄\r\n\t둘째 줄\n"


@pytest.mark.parametrize(
    "query", ["size=1&size=2", "size=1.5", "size=2.0", "cursor=a&cursor=b", "cursor=a%00b"]
)
async def test_the_product_list_takes_each_query_parameter_once_and_integers_as_digits(client, query):
    answer = await client.get(f"/api/v1/products?{query}", headers=tokens.bearer(1))
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "VALIDATION_FAILED"
