"""Redis loses everything in the middle of a coupon flood (FLUSHALL), or goes away and comes back
empty (a restart: ours keeps nothing on disk): the gate rebuilds its counters from PostgreSQL and
the first-come-first-served invariants hold, while payments (whose per-user rate limit lives in Redis
and fails open) go on."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from invariants import (
    assert_coupon_flood_holds,
    assert_nothing_dead_lettered,
    assert_outboxes_drain,
    assert_payments_hold,
    dead_letters,
    passed_over_users,
    xfail_if_known_bugs_showed,
)
from load import coupon_flood, flood_users, new_buyers, shopping
from stack import Stack, launch

from commerce_kit.testing import eventually

pytestmark = pytest.mark.timeout(600)

#: How long Redis stays away when it is restarted (the fault's own duration).
REDIS_DOWN_SECONDS = 5


@pytest_asyncio.fixture(scope="module")
async def stack(postgres_url, kafka_bootstrap, tmp_path_factory):
    async with launch(postgres_url, kafka_bootstrap, tmp_path_factory.mktemp("redis")) as running:
        yield running


async def gate_rebuilds(stack: Stack) -> float:
    return await stack.metric("coupon", r"coupon_gate_rebuilt_total")


async def flood_and_shop_while(stack: Stack, fault, tolerate: set[tuple[int, str]] | None = None) -> tuple:
    """A flood of 300 users for 60 coupons and 12 buyers shopping; `fault(coupon)` runs beside them."""
    shop = stack.shop
    buyers = await new_buyers(shop, 12)
    stock = 60
    coupon = await shop.new_coupon("FIXED", 500, totalQuantity=stock)
    crowd = flood_users(300)
    faulting = asyncio.create_task(fault(coupon))
    flooding = asyncio.create_task(
        coupon_flood(shop, coupon, stock, crowd, repeats=80, concurrency=6, rate=25, tolerate=tolerate)
    )
    await shopping(shop, buyers, rounds=3)
    flood = await flooding
    await faulting
    print(f"{buyers.answers.summary()}; {flood.answers.summary()}")
    buyers.answers.assert_clean()
    flood.answers.assert_clean()
    assert buyers.paid > 0
    return flood, buyers


async def when_some_copies_are_issued(stack: Stack, coupon: int) -> None:
    await eventually(
        lambda: stack.db.fetchval(
            "SELECT count(*) >= 15 FROM coupons.user_coupons WHERE coupon_id = $1", coupon
        ),
        timeout=90,
        interval=0.01,
        what="some copies issued",
    )


async def test_a_redis_flushall_mid_flood_breaks_nothing(stack):
    rebuilt_before = await gate_rebuilds(stack)
    flushed_with_copies_left = []

    async def flush(coupon: int) -> None:
        await when_some_copies_are_issued(stack, coupon)
        redis = stack.redis_client()
        try:
            await redis.flushall()
        finally:
            await redis.aclose()
        left = await stack.db.fetchval("SELECT remaining FROM coupons.coupons WHERE id = $1", coupon)
        flushed_with_copies_left.append(left)

    flood, buyers = await flood_and_shop_while(stack, flush)
    await assert_coupon_flood_holds(stack, flood)
    await assert_payments_hold(stack, buyers)
    await assert_outboxes_drain(stack)
    await assert_nothing_dead_lettered(stack)
    # The flush hit while copies were still being handed out, and the gate rebuilt its counter.
    assert flushed_with_copies_left[0] > 0
    assert await gate_rebuilds(stack) > rebuilt_before
    await xfail_if_known_bugs_showed(stack, buyers)


async def test_redis_restarted_empty_mid_flood_breaks_nothing(stack):
    rebuilt_before = await gate_rebuilds(stack)
    restarted_with_copies_left = []

    async def restart(coupon: int) -> None:
        await when_some_copies_are_issued(stack, coupon)
        await asyncio.to_thread(stack.redis.stop)
        await asyncio.sleep(REDIS_DOWN_SECONDS)  # the fault's own duration
        await asyncio.to_thread(stack.redis.start)
        left = await stack.db.fetchval("SELECT remaining FROM coupons.coupons WHERE id = $1", coupon)
        restarted_with_copies_left.append(left)

    flood, buyers = await flood_and_shop_while(stack, restart)
    await assert_coupon_flood_holds(stack, flood, first_come=False)
    await assert_payments_hold(stack, buyers)
    await assert_outboxes_drain(stack)
    # Redis came back empty while copies were still being handed out: the gate rebuilt its counter.
    assert restarted_with_copies_left[0] > 0
    assert await gate_rebuilds(stack) > rebuilt_before
    # First come, first served, and nothing parked: a request settled while Redis was away is
    # retried until it is back, not dead-lettered. The known bug below breaks both when a batch was
    # being settled at the moment Redis went away; whether one was is a matter of timing.
    parked, passed_over = await dead_letters(stack), await passed_over_users(stack, flood)
    if parked or passed_over:
        assert set(parked) == {"coupon-issue.dlt"}, parked
        # Each user passed over had a request dead-lettered (nothing else passes anyone over).
        unprocessable = {r["user_id"] for r in passed_over if r["reason"] == "UNPROCESSABLE"}
        assert unprocessable == {r["user_id"] for r in passed_over}, passed_over
    await xfail_if_known_bugs_showed(
        stack,
        buyers,
        (parked or passed_over) and f"{COUPON_CONSUMER_BUG} (this run: {parked}, passed over: {passed_over})",
    )


#: Found by the test above (see docs/reliability.md, "Known bugs").
COUPON_CONSUMER_BUG = (
    "bug: a Redis outage longer than CouponIssueConsumer's retry budget (5 tries, about 1.5 s) makes it"
    " dead-letter live requests (REJECTED UNPROCESSABLE), passing their users over for later ones"
)


async def test_while_redis_is_away_a_coupon_request_is_answered_503(stack):
    coupon = await stack.shop.new_coupon("FIXED", 500, totalQuantity=10)
    user = flood_users(1)[0]
    await asyncio.to_thread(stack.redis.stop)
    try:
        answer = await stack.shop.http.post(f"/api/v1/coupons/{coupon}/issue", headers=stack.shop.user(user))
    finally:
        await asyncio.to_thread(stack.redis.start)
    assert (answer.status_code, answer.json()["code"]) == (503, "DEPENDENCY_UNAVAILABLE"), answer.text
    # And once Redis is back, the same request is accepted.
    again = await stack.shop.http.post(f"/api/v1/coupons/{coupon}/issue", headers=stack.shop.user(user))
    assert again.status_code == 202, again.text
