"""Unexpected errors as problems: our own infrastructure going away is "not now" (503), anything
else a bug (500); both problem+json, never a traceback."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from commerce_kit.web import PROBLEM, install_problem_handlers


@pytest.fixture
def app(test_database_url) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/cut")
    async def cut() -> dict:
        """A query whose connection is cut under it (what pg_terminate_backend does to a pool's)."""
        conn = await asyncpg.connect(test_database_url)
        try:
            await conn.fetchval("SELECT pg_terminate_backend(pg_backend_pid())")
            return {"unreachable": True}
        finally:
            await conn.close()

    @app.get("/redis-away")
    async def redis_away() -> dict:
        client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing there
        try:
            return {"pong": await client.ping()}
        finally:
            await client.aclose()

    @app.get("/bug")
    async def bug() -> dict:
        raise KeyError("a bug")

    return app


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/cut", 503, "DEPENDENCY_UNAVAILABLE"),
        ("/redis-away", 503, "DEPENDENCY_UNAVAILABLE"),
        ("/bug", 500, "INTERNAL_ERROR"),
    ],
)
async def test_an_outage_is_503_and_a_bug_500(app, path, status, code):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        answer = await http.get(path)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.json()["code"] == code
    assert ("Retry-After" in answer.headers) == (status == 503)


def test_an_outage_is_recognised_behind_the_error_it_caused():
    from commerce_kit.outages import is_outage

    def leave_the_block(said: str | None) -> BaseException:
        try:
            try:
                raise asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation")
            except Exception:
                if said is None:
                    raise asyncpg.exceptions.InterfaceError("cannot call Transaction.__aexit__()")  # noqa: B904
                raise RuntimeError(said) from None  # "what was being handled does not matter"
        except Exception as raised:
            return raised
        raise AssertionError("unreachable")

    assert is_outage(leave_the_block(None))
    assert not is_outage(leave_the_block("a different failure, raised from None"))
    assert not is_outage(asyncpg.exceptions.InterfaceError("misuse"))
    assert not is_outage(KeyError("a bug"))
