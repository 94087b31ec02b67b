"""ServiceClient: what a call to another service turns into when that service refuses, fails, or is
not there at all. A real socket for "nothing listens"; httpx's MockTransport for the rest."""

from __future__ import annotations

import socket

import httpx
import pytest

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import RemoteError, ServiceClient
from commerce_kit.errors import DependencyUnavailable

TOKEN = ServiceToken("s" * 32, "tests")


def client(handler, *, retries: int = 1) -> tuple[ServiceClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ServiceClient(
        "other", "http://other", TOKEN, retries=retries, transport=httpx.MockTransport(record)
    ), seen


async def test_an_answer_comes_back_decoded_with_the_service_token() -> None:
    c, seen = client(lambda r: httpx.Response(200, json={"status": "TAKEN"}))
    assert await c.put("/internal/v1/x", {"a": 1}) == {"status": "TAKEN"}
    assert seen[0].headers["authorization"].startswith("Bearer ")


async def test_a_refusal_is_raised_with_its_status_and_code_and_not_retried() -> None:
    problem = {"status": 409, "code": "INSUFFICIENT_STOCK", "detail": "option 7 is short"}
    c, seen = client(lambda r: httpx.Response(409, json=problem))
    with pytest.raises(RemoteError) as refused:
        await c.put("/internal/v1/x")
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        409,
        "INSUFFICIENT_STOCK",
        "option 7 is short",
    )
    assert len(seen) == 1


async def test_a_failing_service_is_retried_then_unavailable() -> None:
    c, seen = client(lambda r: httpx.Response(500, text="boom"), retries=2)
    with pytest.raises(DependencyUnavailable):
        await c.get("/internal/v1/x")
    assert len(seen) == 3


async def test_a_post_that_is_not_idempotent_is_sent_once() -> None:
    c, seen = client(lambda r: httpx.Response(503), retries=2)
    with pytest.raises(DependencyUnavailable):
        await c.post("/internal/v1/x", {})
    assert len(seen) == 1


async def test_a_connection_reset_as_it_is_made_is_unavailable_not_a_crash() -> None:
    """What a killed service's half-made connection raised from inside httpcore (fault tests)."""

    def reset(request: httpx.Request) -> httpx.Response:
        raise AttributeError("'NoneType' object has no attribute 'getpeername'")

    c, seen = client(reset, retries=1)
    with pytest.raises(DependencyUnavailable, match="AttributeError"):
        await c.put("/internal/v1/x")
    assert len(seen) == 2  # retried like any failed connection


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = ServiceClient("other", f"http://127.0.0.1:{port}", TOKEN, retries=0)
    try:
        with pytest.raises(DependencyUnavailable, match="ConnectError"):
            await c.get("/internal/v1/x")
    finally:
        await c.aclose()
