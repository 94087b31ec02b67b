"""The per-user rate limiter on a real Redis: shared by every instance, fail-open when Redis is away."""

import asyncio
import secrets

import pytest
import redis.asyncio as aioredis

from commerce_kit.errors import RateLimited
from commerce_kit.ratelimit import RateLimiter


async def test_a_user_over_the_limit_is_refused_and_others_are_not(test_redis_url):
    client = aioredis.from_url(test_redis_url)
    route = f"r-{secrets.token_hex(3)}"
    # Two instances of a service share the count through Redis.
    one, two = (
        RateLimiter(client, route, limit=3, window_seconds=60),
        RateLimiter(client, route, 3, window_seconds=60),
    )
    await one.check(1)
    await two.check(1)
    await one.check(1)
    with pytest.raises(RateLimited) as refused:
        await two.check(1)
    assert refused.value.status == 429 and refused.value.code == "RATE_LIMITED"
    await one.check(2)  # another user has a count of their own
    await client.aclose()


async def test_concurrent_requests_never_get_more_than_the_limit_through(test_redis_url):
    client = aioredis.from_url(test_redis_url)
    limiter = RateLimiter(client, f"r-{secrets.token_hex(3)}", limit=10, window_seconds=60)
    results = await asyncio.gather(*(limiter.check(7) for _ in range(50)), return_exceptions=True)
    assert sum(r is None for r in results) == 10
    assert all(isinstance(r, RateLimited) for r in results if r is not None)
    await client.aclose()


async def test_when_redis_is_away_requests_are_let_through():
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    await RateLimiter(client, "r", limit=1).check(1)
    await RateLimiter(client, "r", limit=1).check(1)  # not refused: fail open
    await client.aclose()
