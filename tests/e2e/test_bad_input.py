"""Bad input across the whole public API, generated from each service's OpenAPI (schemathesis, in
its negative mode: wrong types, missing fields, extremes, unicode, malformed values): never a 5xx,
always a 4xx problem+json, and nothing changed in any service's data."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from commerce_kit.testing import tokens
from devstack.services import SUITE

# What the suite holds, per service: a bad request must change none of it. (Rows the consumers write
# from earlier tests' payments, the PAYMENT history rows and the ranking's sales, are left out: they
# may still be arriving; they follow from payments, which are counted.)
COUNTS = {
    "users": "SELECT count(*) FROM users.users",
    "charges": "SELECT count(*) FROM users.wallet_transactions WHERE type = 'CHARGE'",
    "balances": "SELECT coalesce(sum(balance), 0) FROM users.wallets",
    "products": "SELECT count(*) FROM catalog.products",
    "stock": "SELECT coalesce(sum(stock), 0) FROM catalog.options",
    "coupons": "SELECT count(*) FROM coupons.coupons",
    "user coupons": "SELECT count(*) FROM coupons.user_coupons",
    "orders": "SELECT count(*) FROM orders.orders",
    "order states": "SELECT count(*) FILTER (WHERE status <> 'PENDING_PAYMENT') FROM orders.orders",
    "payments": "SELECT count(*) FROM payments.payments",
    "rebuilds": "SELECT count(*) FROM rankings.rebuild_runs",
}


async def counts(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        return {name: await conn.fetchval(sql) for name, sql in COUNTS.items()}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def nothing_changes(suite):
    before = await counts(suite.env["DATABASE_URL"])
    yield
    assert await counts(suite.env["DATABASE_URL"]) == before


def operations(suite, service: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{suite.gateway_url}/docs/{service}/openapi.json")
    # The token is ours (a valid admin one), so a case must not be "bad" only for its token; and an
    # unknown query parameter is ignored, not an error, so adding one does not make a request bad.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    # Internal routes are not published (the gateway answers 404), and health takes no input.
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if not op.path.startswith(("/internal", "/health"))]


@pytest.mark.parametrize("service", [s.name for s in SUITE])
def test_bad_input_gets_a_4xx_problem_and_changes_nothing(service, suite, nothing_changes):
    # An admin token: a request is refused for its input, not for who sends it (where the route is
    # for owners only, its 403 is still a 4xx problem).
    headers = tokens.admin(secret=suite.env["JWT_SECRET"])
    checked = 0
    for operation in operations(suite, service):

        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
        def bad_request(case) -> None:
            response = case.call(base_url=suite.gateway_url, headers=headers, timeout=15)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            assert response.status_code >= 400, f"{where}: a bad request was accepted: {response.status_code}"
            content_type = response.headers.get("content-type", [""])[0]
            assert content_type.startswith("application/problem+json"), f"{where}: {content_type}"
            assert response.json()["code"], where

        try:
            bad_request()
        except Unsatisfiable:
            continue  # an operation that takes no input at all (POST .../rankings/rebuild) has no bad input
        checked += 1
    assert checked >= 1
