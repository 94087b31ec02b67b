"""Malformed requests get a 4xx problem+json with a clear code, and change nothing (SPEC.md "Errors")."""

import pytest

from commerce_kit.testing import tokens

CHARGE_BODIES = {
    "no body": None,
    "empty object": b"{}",
    "string for a number": b'{"amount": "100"}',
    "float": b'{"amount": 100.0}',
    "fraction": b'{"amount": 100.5}',
    "boolean": b'{"amount": true}',
    "null": b'{"amount": null}',
    "negative": b'{"amount": -100}',
    "zero": b'{"amount": 0}',
    "above the single-charge limit": b'{"amount": 1000001}',
    "2^63": b'{"amount": 9223372036854775808}',
    "2^64": b'{"amount": 18446744073709551616}',
    "huge exponent": b'{"amount": 1e400}',
    "unknown field": b'{"amount": 100, "currency": "KRW"}',
    "snake_case field": b'{"amount": 100, "user_id": 1}',
    "bad JSON": b'{"amount": ',
    "not an object": b"[100]",
    "a bare number": b"100",
    "unicode garbage": '{"amount": "١٠٠"}'.encode(),
    "nested": b'{"amount": {"value": 100}}',
}


@pytest.mark.parametrize("body", CHARGE_BODIES.values(), ids=CHARGE_BODIES.keys())
async def test_a_malformed_charge_is_refused_with_a_problem_and_changes_nothing(client, new_user, body):
    user = await new_user()
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge",
        content=body,
        headers={**tokens.bearer(user), "Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] in {"VALIDATION_FAILED", "CHARGE_LIMIT_EXCEEDED"} and problem["detail"]
    balance = await client.get(f"/api/v1/users/{user}/balance", headers=tokens.bearer(user))
    assert balance.json()["balance"] == 0
    history = await client.get(f"/api/v1/users/{user}/transactions", headers=tokens.bearer(user))
    assert history.json()["items"] == []


async def test_a_body_over_the_limit_is_refused_with_413(client, new_user):
    user = await new_user()
    body = b'{"amount": 100, "pad": "' + b"x" * 70_000 + b'"}'
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge",
        content=body,
        headers={**tokens.bearer(user), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_body_over_the_limit_without_content_length_is_refused_too(client, new_user):
    user = await new_user()

    async def chunks():
        yield b'{"amount": 100, "pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge",
        content=chunks(),
        headers={**tokens.bearer(user), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "path_id", ["abc", "0", "-1", "1.5", "9223372036854775808", "99999999999999999999999"]
)
async def test_a_malformed_user_id_in_the_path_is_refused(client, path_id):
    answer = await client.get(f"/api/v1/users/{path_id}/balance", headers=tokens.admin())
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "VALIDATION_FAILED"


async def test_an_unknown_route_is_a_problem_too(client):
    answer = await client.get("/api/v1/nothing-here", headers=tokens.admin())
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_wrong_method_is_a_problem_too(client, new_user):
    user = await new_user()
    answer = await client.delete(f"/api/v1/users/{user}/balance", headers=tokens.bearer(user))
    assert answer.status_code == 405
    assert answer.json()["code"] == "METHOD_NOT_ALLOWED"
