"""Bad text is a 400 VALIDATION_FAILED and stores nothing: control characters, lone surrogates and
over-long strings, in a coupon's name and in a reservation id in the path; query parameters are
strictly typed (API.md "Errors")."""

import json

import pytest

from commerce_kit.testing import tokens

COUPON = {
    "name": "Welcome",
    "discountType": "FIXED",
    "discountValue": 1_000,
    "totalQuantity": 10,
    "validDays": 7,
}
BAD_NAMES = {
    "NUL": "Welcome\x00",
    "escape": "Wel\x1bcome",
    "line feed inside": "Wel\ncome",
    "DEL": "Welcome\x7f",
    "C1 control": "Welcome\x80",
    "lone surrogate": "Welcome\udfff",
    "101 characters": "x" * 101,
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_a_coupon_with_a_bad_name_is_refused_and_not_stored(client, pool, problem, name):
    before = await pool.fetchval("SELECT count(*) FROM coupons")
    answer = await client.post(
        "/api/v1/admin/coupons",
        content=json.dumps(COUPON | {"name": name}).encode(),  # ensure_ascii: \u escapes
        headers={**tokens.admin(), "Content-Type": "application/json"},
    )
    problem(answer, 400, "VALIDATION_FAILED")
    assert await pool.fetchval("SELECT count(*) FROM coupons") == before


@pytest.mark.parametrize(
    "reservation",
    ["r%00", "r%1F", "r%0A", "r%7F", "r%C2%9F", "r%ED%A0%80", "r%FF", "r" * 101],
    ids=[
        "NUL",
        "unit separator",
        "line feed",
        "DEL",
        "C1 control",
        "lone surrogate",
        "stray byte",
        "101 chars",
    ],
)
async def test_a_bad_reservation_id_in_the_path_is_refused(client, problem, fresh_id, reservation):
    answer = await client.get(
        f"/api/v1/coupons/issue-requests/{reservation}", headers=tokens.bearer(fresh_id())
    )
    problem(answer, 400, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    "query", ["size=1&size=2", "size=1.5", "status=ALL&status=ISSUED", "cursor=%ED%A0%80"]
)
async def test_my_coupons_take_each_query_parameter_once_and_integers_as_digits(
    client, problem, fresh_id, query
):
    user = fresh_id()
    answer = await client.get(f"/api/v1/users/{user}/coupons?{query}", headers=tokens.bearer(user))
    problem(answer, 400, "VALIDATION_FAILED")
