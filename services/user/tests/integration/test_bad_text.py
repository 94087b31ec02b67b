"""Bad text is a 400 VALIDATION_FAILED and stores nothing: control characters, lone surrogates and
over-long strings, in a user's name and in the Idempotency-Key header; query parameters are strictly
typed (API.md "Errors")."""

import json

import pytest

from commerce_kit.testing import tokens

BAD_NAMES = {
    "NUL": "Kim\x00",
    "escape": "Kim\x1b[31m",
    "line feed inside": "Kim\nLee",
    "DEL": "Kim\x7f",
    "C1 control": "Kim\x9b",
    "lone surrogate": "Kim\ud800",
    "101 characters": "가" * 101,
}


async def count_users(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM users")


def refused(answer) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_a_user_with_a_bad_name_is_refused_and_not_stored(client, pool, name):
    before = await count_users(pool)
    answer = await client.post(
        "/api/v1/admin/users",
        content=json.dumps({"name": name}).encode(),  # ensure_ascii: NUL and U+D800 as \u escapes
        headers={**tokens.admin(), "Content-Type": "application/json"},
    )
    refused(answer)
    assert await count_users(pool) == before


BAD_KEYS = {
    "NUL": b"k\x00",
    "escape": b"k\x1b",
    "C1 control": b"k\x85",
    "201 characters": b"k" * 201,
    "empty": b"",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
async def test_a_charge_with_a_bad_idempotency_key_is_refused_and_changes_nothing(
    client, pool, new_user, key
):
    user = await new_user()
    keys = await pool.fetchval("SELECT count(*) FROM idempotency_keys")
    answer = await client.post(
        f"/api/v1/users/{user}/balance/charge",
        json={"amount": 1000},
        headers={**tokens.bearer(user), "Idempotency-Key": key},
    )
    refused(answer)
    balance = await client.get(f"/api/v1/users/{user}/balance", headers=tokens.bearer(user))
    assert balance.json()["balance"] == 0
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == keys


@pytest.mark.parametrize(
    "query",
    [
        "size=1&size=2",
        "size=1.5",
        "size=2.0",
        "size=1e1",
        "cursor=a&cursor=b",
        "cursor=%00",
        "cursor=%ED%A0%80",
    ],
)
async def test_the_history_takes_each_query_parameter_once_and_integers_as_digits(client, new_user, query):
    user = await new_user()
    refused(await client.get(f"/api/v1/users/{user}/transactions?{query}", headers=tokens.bearer(user)))
