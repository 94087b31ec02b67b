"""The gate's reservations, many per Redis call: requests that arrive together go out together, in
order, each with its own answer."""

import asyncio
import itertools
import time

import redis.asyncio as aioredis

from coupon_service.adapters.gate import Gate
from coupon_service.adapters.reserve_batcher import ReserveBatcher

_coupons = itertools.count(int(time.time()) % 10**6 * 1000)


class CountingGate(Gate):
    def __init__(self, redis):
        super().__init__(redis)
        self.calls: list[int] = []

    async def reserve(self, coupon_id, asks, *, per_second=1_000_000):
        self.calls.append(len(asks))
        return await super().reserve(coupon_id, asks, per_second=per_second)


async def test_requests_arriving_together_share_one_call_and_keep_their_order(settings):
    redis = aioredis.from_url(settings.redis_url)
    gate, coupon = CountingGate(redis), next(_coupons)
    batcher = ReserveBatcher(gate)
    asks = [(user, f"r-{user}") for user in range(1, 51)] + [(7, "r-7-again")]
    answers = await asyncio.gather(*(batcher.reserve(coupon, u, r, per_second=100) for u, r in asks))
    assert gate.calls == [51]
    assert all(a.new for a in answers[:50])
    assert (answers[50].new, answers[50].existing_id) == (False, "r-7")  # the same user's first one
    await redis.aclose()


async def test_a_lone_request_is_sent_at_once_and_the_rate_limit_is_per_user(settings):
    redis = aioredis.from_url(settings.redis_url)
    gate, coupon = CountingGate(redis), next(_coupons)
    batcher = ReserveBatcher(gate)
    first = await batcher.reserve(coupon, 1, "a", per_second=2)
    assert first.new and gate.calls == [1]
    again = await asyncio.gather(*(batcher.reserve(coupon, 1, f"b{i}", per_second=2) for i in range(3)))
    assert [a.rate_limited for a in again].count(True) >= 2  # 2 per second: at most one more this second
    other = await batcher.reserve(coupon, 2, "c", per_second=2)
    assert other.new  # another user is not limited by the first one's requests
    # The counts of a second are one hash in the coupon's slot, and it goes away by itself.
    counts = [k async for k in redis.scan_iter(f"coupon:{{{coupon}}}:rate:*")]
    assert counts and all(0 < ttl <= 2000 for ttl in [await redis.pttl(k) for k in counts])
    await redis.aclose()


async def test_a_redis_failure_reaches_every_waiting_request():
    redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    batcher = ReserveBatcher(Gate(redis))
    results = await asyncio.gather(
        *(batcher.reserve(1, u, f"r{u}", per_second=10) for u in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    await redis.aclose()
