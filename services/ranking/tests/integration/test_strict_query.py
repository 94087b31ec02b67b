"""Popular products take each query parameter once and integers as digits: a repeated scalar or a
fraction is a 400 VALIDATION_FAILED, never a silent guess (API.md "Errors")."""

import pytest

from commerce_kit.testing import tokens

LOOSE = {
    "limit repeated": "limit=1&limit=2",
    "days repeated with one value": "days=3&days=3",
    "days as 2.0": "days=2.0",
    "days as 1.5": "days=1.5",
    "limit as 1e1": "limit=1e1",
    "limit with a space": "limit=%205",
    "limit with underscores": "limit=1_0",
    "limit empty": "limit=",
}


@pytest.mark.parametrize("query", LOOSE.values(), ids=LOOSE.keys())
async def test_a_loose_query_is_refused(client, problem, query):
    answer = await client.get(f"/api/v1/products/popular?{query}", headers=tokens.bearer(7))
    problem(answer, 400, "VALIDATION_FAILED")


async def test_integers_written_as_digits_are_taken(client):
    answer = await client.get("/api/v1/products/popular?days=02&limit=100", headers=tokens.bearer(7))
    assert answer.status_code == 200, answer.text
