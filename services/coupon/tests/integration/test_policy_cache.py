"""The issue route's policy cache: a flood asks for one coupon thousands of times a second, and the
requests in flight when its entry is missing or stale share one load."""

from __future__ import annotations

import asyncio
import contextlib

from coupon_service.service_layer.reservations import PolicyCache


class CountingPool:
    """The service's pool, counting the connections taken from it."""

    def __init__(self, pool) -> None:
        self.pool, self.acquired = pool, 0

    @contextlib.asynccontextmanager
    async def acquire(self):
        self.acquired += 1
        async with self.pool.acquire() as conn:
            yield conn


async def test_requests_in_flight_share_one_load(pool, new_coupon):
    coupon = await new_coupon()
    counting = CountingPool(pool)
    cache = PolicyCache(counting, seconds=60)
    policies = await asyncio.gather(*(cache.get(coupon["id"]) for _ in range(100)))
    assert counting.acquired == 1
    assert all(p is not None and p == policies[0] for p in policies)
    assert await cache.get(coupon["id"]) == policies[0] and counting.acquired == 1  # cached


async def test_an_unknown_coupon_is_none_and_a_stale_entry_is_loaded_again(pool, new_coupon):
    coupon = await new_coupon()
    counting = CountingPool(pool)
    cache = PolicyCache(counting, seconds=0)
    assert await cache.get(10**15) is None
    await cache.get(coupon["id"])
    await cache.get(coupon["id"])
    assert counting.acquired == 3


async def test_a_request_that_gives_up_does_not_cancel_the_load_of_the_others(pool, new_coupon):
    coupon = await new_coupon()
    cache = PolicyCache(pool, seconds=60)
    impatient = asyncio.ensure_future(cache.get(coupon["id"]))
    patient = asyncio.ensure_future(cache.get(coupon["id"]))
    await asyncio.sleep(0)  # both wait on the same load now
    impatient.cancel()
    assert (await patient) is not None
    assert impatient.cancelled()
