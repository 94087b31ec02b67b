"""ServiceClient: what a call to another service turns into when that service answers, refuses, fails,
hangs, cuts the connection, or is not there at all. The other service is a real HTTP server here."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import RemoteError, ServiceClient
from commerce_kit.errors import DependencyUnavailable

TOKEN = ServiceToken("s" * 32, "tests")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Other:
    """The other service: every request is recorded, then answered by `handler`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.handler: Handler = answer(200, {})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path, dict(request.headers), await request.read()))
        return await self.handler(request)


@pytest_asyncio.fixture
async def other() -> AsyncIterator[tuple[Other, str]]:
    other = Other()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", other.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield other, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


def answer(status: int, body: object | None = None, *, text: str | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(status=status, text=text)
        return web.json_response(body, status=status)

    return handler


async def test_an_answer_comes_back_decoded_with_the_service_token(other) -> None:
    server, url = other
    server.handler = answer(200, {"status": "TAKEN"})
    client = ServiceClient("other", url, TOKEN)
    try:
        assert await client.put("/internal/v1/x", {"a": 1}) == {"status": "TAKEN"}
        assert await client.get("/internal/v1/y") == {"status": "TAKEN"}
    finally:
        await client.aclose()
    (method, path, headers, body), (get, _, _, empty) = server.seen
    assert (method, path, body, get, empty) == ("PUT", "/internal/v1/x", b'{"a":1}', "GET", b"")
    assert headers["Authorization"].startswith("Bearer ") and headers["Content-Type"] == "application/json"


async def test_a_refusal_is_raised_with_its_status_and_code_and_not_retried(other) -> None:
    server, url = other
    server.handler = answer(409, {"status": 409, "code": "INSUFFICIENT_STOCK", "detail": "option 7 is short"})
    client = ServiceClient("other", url, TOKEN, retries=2)
    try:
        with pytest.raises(RemoteError) as refused:
            await client.put("/internal/v1/x")
    finally:
        await client.aclose()
    assert (refused.value.status, refused.value.code, refused.value.detail) == (
        409,
        "INSUFFICIENT_STOCK",
        "option 7 is short",
    )
    assert len(server.seen) == 1


async def test_a_refusal_that_is_not_a_problem_is_still_a_refusal(other) -> None:
    server, url = other
    server.handler = answer(404, text="<html>not here</html>")
    client = ServiceClient("other", url, TOKEN)
    try:
        with pytest.raises(RemoteError) as refused:
            await client.get("/internal/v1/x")
    finally:
        await client.aclose()
    assert (refused.value.status, refused.value.code) == (404, "UPSTREAM_ERROR")
    assert "not here" in refused.value.detail


async def test_a_failing_service_is_retried_then_unavailable(other) -> None:
    server, url = other
    server.handler = answer(500, text="boom")
    client = ServiceClient("other", url, TOKEN, retries=2)
    try:
        with pytest.raises(DependencyUnavailable, match="failed"):
            await client.get("/internal/v1/x")
    finally:
        await client.aclose()
    assert len(server.seen) == 3


async def test_a_post_that_is_not_idempotent_is_sent_once(other) -> None:
    server, url = other
    server.handler = answer(503, {})
    client = ServiceClient("other", url, TOKEN, retries=2)
    try:
        with pytest.raises(DependencyUnavailable):
            await client.post("/internal/v1/x", {})
    finally:
        await client.aclose()
    assert len(server.seen) == 1


async def test_a_service_slower_than_the_timeout_is_unavailable_in_bounded_time(other) -> None:
    server, url = other

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    server.handler = hang
    client = ServiceClient("other", url, TOKEN, timeout=0.3, retries=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(DependencyUnavailable, match="did not answer"):
            await client.get("/internal/v1/x")
    finally:
        await client.aclose()
    assert loop.time() - started < 2  # two tries of 0.3 s and a short pause, not five seconds
    assert len(server.seen) == 2


async def test_a_connection_cut_mid_answer_is_unavailable_not_a_crash(other) -> None:
    """What a service killed while it answers looks like from here."""
    server, url = other

    async def cut(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.json_response({})

    server.handler = cut
    client = ServiceClient("other", url, TOKEN, retries=1)
    try:
        with pytest.raises(DependencyUnavailable, match="did not answer"):
            await client.put("/internal/v1/x")
    finally:
        await client.aclose()
    # Retried like any failed connection (aiohttp also sends an idempotent request once more by
    # itself when a kept-alive connection drops under it: hence at least two, not exactly two).
    assert len(server.seen) >= 2


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ServiceClient("other", f"http://127.0.0.1:{port}", TOKEN, retries=0)
    try:
        with pytest.raises(DependencyUnavailable, match="ClientConnectorError"):
            await client.get("/internal/v1/x")
    finally:
        await client.aclose()
