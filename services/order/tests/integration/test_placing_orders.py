"""POST /orders, for everything decided before the catalog and coupon services are asked: malformed
bodies are 400 problems that store nothing, and a catalog that is down or slow is a 503 in bounded
time, not a hang. (With real catalog and coupon data: e2e_pending/test_place_orders.py.)"""

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commerce_kit.testing import tokens
from order_service.app import create_app
from order_service.settings import OrderSettings

LINE = {"productId": 10, "optionId": 101, "quantity": 1}


def line(**changes):
    return {**LINE, **changes}


def lines(count):
    return [line(optionId=100 + n) for n in range(count)]


BODIES: dict[str, object] = {
    "no body": None,
    "empty object": b"{}",
    "no items": {"userCouponId": 5},
    "no lines": {"items": []},
    "51 lines": {"items": lines(51)},
    "items not a list": {"items": LINE},
    "items a string": {"items": "101x1"},
    "a line not an object": {"items": [101]},
    "a line without productId": {"items": [{"optionId": 101, "quantity": 1}]},
    "a line without optionId": {"items": [{"productId": 10, "quantity": 1}]},
    "a line without quantity": {"items": [{"productId": 10, "optionId": 101}]},
    "quantity 0": {"items": [line(quantity=0)]},
    "negative quantity": {"items": [line(quantity=-1)]},
    "quantity above 1000": {"items": [line(quantity=1001)]},
    "quantity as a string": {"items": [line(quantity="1")]},
    "quantity as a float": {"items": [line(quantity=1.0)]},
    "fractional quantity": {"items": [line(quantity=1.5)]},
    "quantity true": {"items": [line(quantity=True)]},
    "quantity null": {"items": [line(quantity=None)]},
    "huge quantity": {"items": [line(quantity=10**30)]},
    "productId 0": {"items": [line(productId=0)]},
    "negative productId": {"items": [line(productId=-10)]},
    "productId past bigint": {"items": [line(productId=2**63)]},
    "productId as a string": {"items": [line(productId="10")]},
    "optionId 0": {"items": [line(optionId=0)]},
    "optionId past bigint": {"items": [line(optionId=2**63)]},
    "optionId null": {"items": [line(optionId=None)]},
    "userCouponId 0": {"items": [LINE], "userCouponId": 0},
    "userCouponId as a string": {"items": [LINE], "userCouponId": "5"},
    "userCouponId past bigint": {"items": [LINE], "userCouponId": 2**63},
    "userCouponId true": {"items": [LINE], "userCouponId": True},
    "a price from the client": {"items": [line(unitPrice=1)]},
    "a total from the client": {"items": [LINE], "totalAmount": 1},
    "a user id from the client": {"items": [LINE], "userId": 1},
    "snake_case fields": {"items": [{"product_id": 10, "option_id": 101, "quantity": 1}]},
    "one option on two lines": {"items": [LINE, line(productId=20, quantity=3)]},
    "bad JSON": b'{"items": [',
    "not an object": b"[]",
    "a bare number": b"42",
    "a huge exponent": b'{"items": [{"productId": 10, "optionId": 101, "quantity": 1e400}]}',
}


async def post_order(client, body, headers):
    content = body if isinstance(body, bytes | None) else httpx.Request("POST", "/", json=body).content
    return await client.post(
        "/api/v1/orders", content=content, headers={**headers, "Content-Type": "application/json"}
    )


async def orders_of(pool, user_id):
    return await pool.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", user_id)


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_a_malformed_order_is_refused_with_a_problem_and_stores_nothing(
    client, pool, user, body, assert_problem
):
    answer = await post_order(client, body, tokens.bearer(user))
    problem = assert_problem(answer, 400, "VALIDATION_FAILED")
    assert "Traceback" not in problem["detail"]
    assert await orders_of(pool, user) == 0


async def test_one_option_on_two_lines_is_refused_with_the_reason(client, user, assert_problem):
    answer = await post_order(client, BODIES["one option on two lines"], tokens.bearer(user))
    assert "101" in assert_problem(answer, 400, "VALIDATION_FAILED")["detail"]


async def test_50_lines_of_up_to_1000_pass_the_checks_of_the_body(client, user, assert_problem):
    # They reach the catalog, which is down in these tests: the body itself was accepted.
    body = {"items": [line(optionId=100 + n, quantity=1000) for n in range(50)]}
    assert_problem(await post_order(client, body, tokens.bearer(user)), 503, "DEPENDENCY_UNAVAILABLE")


async def test_a_body_over_the_limit_is_refused_with_413(client, user, assert_problem):
    body = b'{"items": [], "pad": "' + b"x" * 70_000 + b'"}'
    assert_problem(await post_order(client, body, tokens.bearer(user)), 413, "PAYLOAD_TOO_LARGE")


async def test_placing_an_order_needs_a_users_token(client, assert_problem):
    assert_problem(await post_order(client, {"items": [LINE]}, {}), 401, "UNAUTHENTICATED")
    assert_problem(await post_order(client, {"items": [LINE]}, tokens.service()), 403, "FORBIDDEN")


# --- the catalog down or slow ---------------------------------------------------------------------


async def test_an_unreachable_catalog_is_a_quick_503_and_nothing_is_stored(
    client, pool, user, assert_problem
):
    started = time.monotonic()
    answer = await post_order(client, {"items": [LINE], "userCouponId": 5}, tokens.bearer(user))
    elapsed = time.monotonic() - started
    problem = assert_problem(answer, 503, "DEPENDENCY_UNAVAILABLE")
    assert "catalog" in problem["detail"] and answer.headers["Retry-After"] == "1"
    assert elapsed < 2, f"took {elapsed:.1f}s"
    assert await orders_of(pool, user) == 0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung catalog."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


async def test_a_catalog_that_does_not_answer_is_a_503_within_the_timeout(
    migrated, test_env, silent_port, monkeypatch, user, assert_problem, drain_outbox
):
    monkeypatch.setenv("CATALOG_SERVICE_URL", f"http://127.0.0.1:{silent_port}")
    # Any: the variables go in by their names, to be parsed as the environment is (the pydantic
    # plugin's __init__ takes field names and parsed values).
    variables: dict[str, Any] = {
        **test_env,
        "INTERNAL_HTTP_TIMEOUT_SECONDS": 0.5,
        "ORDER_DEPENDENCY_RETRIES": 1,
        "ORDER_EXPIRY_INTERVAL_SECONDS": 3600,
    }
    settings = OrderSettings(**variables)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://order") as client:
            started = time.monotonic()
            answer = await post_order(client, {"items": [LINE]}, tokens.bearer(user))
            elapsed = time.monotonic() - started
        stored = await app.deps.pool.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", user)
        await drain_outbox(app.deps.pool)  # this app's relay shares the outbox: stop it idle
    assert_problem(answer, 503, "DEPENDENCY_UNAVAILABLE")
    # Two tries of 0.5 s each (a lookup is safe to retry), and no more.
    assert 1.0 <= elapsed < 3, f"took {elapsed:.1f}s"
    assert stored == 0
