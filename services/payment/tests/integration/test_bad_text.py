"""A bad Idempotency-Key is a 400 VALIDATION_FAILED before anything starts: no payment, no key
stored (API.md "Errors")."""

import itertools
import time

import pytest

from commerce_kit.testing import tokens

_users = itertools.count(int(time.time() * 1000) % 10**11)

BAD_KEYS = {
    "NUL": b"k\x00",
    "escape": b"k\x1b",
    "line feed": b"k\nx",
    "DEL": b"k\x7f",
    "C1 control": b"k\x85",
    "201 characters": b"k" * 201,
    "empty": b"",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
async def test_a_payment_with_a_bad_idempotency_key_is_refused_and_starts_nothing(client, pool, key):
    counted = "SELECT (SELECT count(*) FROM payments) p, (SELECT count(*) FROM idempotency_keys) k"
    before = await pool.fetchrow(counted)
    answer = await client.post(
        "/api/v1/payments",
        json={"orderId": 1},
        headers={**tokens.bearer(next(_users)), "Idempotency-Key": key},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "VALIDATION_FAILED"
    assert await pool.fetchrow(counted) == before
