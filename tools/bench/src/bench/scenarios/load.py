"""The data the browsing and payment scenarios need, through the admin and public APIs (timed: the
report says how long loading took)."""

from __future__ import annotations

import asyncio
import time

import httpx

from bench import data
from bench.scenarios.common import Context


def run(ctx: Context) -> None:
    plan = ctx.plan
    started = time.monotonic()

    async def load() -> None:
        async with httpx.AsyncClient(base_url=ctx.stack.gateway_url, timeout=60) as http:
            api = data.Api(ctx.stack, http)
            made = await data.products(api, plan.products)
            hot = await api.new_product("Bench hot item", [("one size", 10_000, 1_000_000_000)])
            buyers = await data.buyers(api, plan.buyers)
            coupon = await api.new_coupon("Bench buyers' 10%", plan.buyers)
            await data.give_coupons(api, buyers, coupon)
            ctx.state.update(
                products=made, payment_products=made[: min(len(made), 200)], hot_product=hot, buyers=buyers
            )

    asyncio.run(load())
    took = time.monotonic() - started
    ctx.notes.append(
        f"data loaded through the APIs in {took:.0f} s: {plan.products:,} products x 4 options, "
        f"{plan.buyers:,} buyers with 1,000,000 KRW and a coupon each"
    )
    print(f"bench: data loaded in {took:.1f} s", flush=True)
