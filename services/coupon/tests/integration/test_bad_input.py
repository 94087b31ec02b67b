"""Malformed requests get a 4xx problem+json with a clear code, and store nothing (SPEC.md "Errors")."""

import json

import pytest

from commerce_kit.testing import tokens

GOOD = {
    "name": "Welcome 10%",
    "discountType": "RATE",
    "discountValue": 10,
    "maxDiscountAmount": 5_000,
    "targetProductId": 7,
    "totalQuantity": 100,
    "validDays": 30,
    "issueStartAt": "2026-03-01T00:00:00+09:00",
    "issueEndAt": "2026-03-08T00:00:00+09:00",
}
FIXED = GOOD | {"discountType": "FIXED", "discountValue": 3_000, "maxDiscountAmount": None}


def without(field: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != field}


def text(body: object) -> bytes:
    return json.dumps(body).encode()


CREATE_BODIES = {
    # missing or empty
    "no body": None,
    "empty object": b"{}",
    **{f"no {field}": text(without(field)) for field in ("name", "discountType", "discountValue")},
    **{f"no {field}": text(without(field)) for field in ("totalQuantity", "validDays")},
    "null name": text(GOOD | {"name": None}),
    "blank name": text(GOOD | {"name": "   "}),
    "name of 101 characters": text(GOOD | {"name": "x" * 101}),
    # wrong types
    "string for a number": text(GOOD | {"discountValue": "10"}),
    "float for a number": text(GOOD | {"totalQuantity": 100.0}),
    "fraction": text(GOOD | {"discountValue": 10.5}),
    "boolean for a number": text(GOOD | {"validDays": True}),
    "number for the name": text(GOOD | {"name": 7}),
    "lower-case discount type": text(GOOD | {"discountType": "rate"}),
    "unknown discount type": text(GOOD | {"discountType": "PERCENT"}),
    "number for the discount type": text(GOOD | {"discountType": 1}),
    "string for the product id": text(GOOD | {"targetProductId": "7"}),
    "nested value": text(GOOD | {"discountValue": {"value": 10}}),
    # the rules
    "RATE of 0": text(GOOD | {"discountValue": 0}),
    "RATE of 101": text(GOOD | {"discountValue": 101}),
    "negative RATE": text(GOOD | {"discountValue": -10}),
    "RATE cap of 0": text(GOOD | {"maxDiscountAmount": 0}),
    "negative RATE cap": text(GOOD | {"maxDiscountAmount": -1}),
    "FIXED of 0": text(FIXED | {"discountValue": 0}),
    "FIXED above 100 million": text(FIXED | {"discountValue": 100_000_001}),
    "FIXED with a cap": text(FIXED | {"maxDiscountAmount": 1_000}),
    "total quantity 0": text(GOOD | {"totalQuantity": 0}),
    "total quantity above 10 million": text(GOOD | {"totalQuantity": 10_000_001}),
    "valid days 0": text(GOOD | {"validDays": 0}),
    "valid days above 3650": text(GOOD | {"validDays": 3651}),
    "target product 0": text(GOOD | {"targetProductId": 0}),
    # extremes
    "2^63": text(GOOD | {"totalQuantity": 2**63}),
    "2^64": text(GOOD | {"discountValue": 2**64}),
    "huge exponent": b'{"name": "x", "discountType": "RATE", "discountValue": 1e400}',
    "product id 2^63": text(GOOD | {"targetProductId": 2**63}),
    # times
    "naive start": text(GOOD | {"issueStartAt": "2026-03-01T00:00:00"}),
    "naive end": text(GOOD | {"issueEndAt": "2026-03-08T00:00:00"}),
    "a date, not a time": text(GOOD | {"issueStartAt": "2026-03-01"}),
    "not a time": text(GOOD | {"issueStartAt": "next monday"}),
    "a number for a time": text(GOOD | {"issueStartAt": 1767225600}),
    "start after end": text(GOOD | {"issueStartAt": "2026-03-09T00:00:00Z"}),
    "start equal to end": text(GOOD | {"issueEndAt": "2026-03-01T00:00:00+09:00"}),
    "start after end once offsets count": text(
        GOOD | {"issueStartAt": "2026-03-01T10:00:00+00:00", "issueEndAt": "2026-03-01T18:00:00+09:00"}
    ),
    "out of range after the offset": text(GOOD | {"issueStartAt": "0001-01-01T00:00:00+09:00"}),
    # unknown fields, bad JSON
    "unknown field": text(GOOD | {"currency": "KRW"}),
    "snake_case field": text(without("validDays") | {"valid_days": 30}),
    "issuedQuantity from the client": text(GOOD | {"issuedQuantity": 0}),
    "bad JSON": b'{"name": ',
    "not an object": text([GOOD]),
    "a bare number": b"100",
}


@pytest.mark.parametrize("body", CREATE_BODIES.values(), ids=CREATE_BODIES.keys())
async def test_a_malformed_coupon_is_refused_with_a_problem_and_nothing_is_stored(
    client, pool, problem, body
):
    before = await pool.fetchval("SELECT count(*) FROM coupons")
    answer = await client.post(
        "/api/v1/admin/coupons",
        content=body,
        headers={**tokens.admin(), "Content-Type": "application/json"},
    )
    problem(answer, 400, "VALIDATION_FAILED")
    assert await pool.fetchval("SELECT count(*) FROM coupons") == before


async def test_the_good_body_of_that_table_is_accepted(client):
    for body in (GOOD, FIXED):
        answer = await client.post("/api/v1/admin/coupons", json=body, headers=tokens.admin())
        assert answer.status_code == 201, answer.text


async def test_a_refusal_names_the_field_at_fault(client, problem):
    answer = await client.post(
        "/api/v1/admin/coupons", json=GOOD | {"issueEndAt": "2026-03-08T00:00:00"}, headers=tokens.admin()
    )
    assert "issueEndAt" in problem(answer, 400, "VALIDATION_FAILED")["detail"]


async def test_a_body_over_the_limit_is_refused_with_413(client, pool, problem):
    before = await pool.fetchval("SELECT count(*) FROM coupons")
    answer = await client.post(
        "/api/v1/admin/coupons", json=GOOD | {"name": "x" * 70_000}, headers=tokens.admin()
    )
    problem(answer, 413, "PAYLOAD_TOO_LARGE")
    assert await pool.fetchval("SELECT count(*) FROM coupons") == before


@pytest.mark.parametrize("path_id", ["abc", "0", "-1", "1.5", "9223372036854775808", "1e3"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/coupons/{}",
        "/api/v1/users/{}/coupons",
        "/internal/v1/user-coupons/{}",
    ],
)
async def test_a_malformed_id_in_the_path_is_refused(client, problem, path, path_id):
    headers = tokens.service() if path.startswith("/internal") else tokens.admin()
    problem(await client.get(path.format(path_id), headers=headers), 400, "VALIDATION_FAILED")


async def test_an_unknown_route_is_a_problem_too(client, problem):
    problem(await client.get("/api/v1/nothing-here", headers=tokens.admin()), 404, "NOT_FOUND")


async def test_a_wrong_method_is_a_problem_too(client, problem):
    answer = await client.delete("/api/v1/admin/coupons/1", headers=tokens.admin())
    problem(answer, 405, "METHOD_NOT_ALLOWED")
