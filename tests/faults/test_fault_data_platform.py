"""The external data platform answers 500 for half a minute, then takes longer than the delivery's
timeout for a minute, while people pay: payments never wait for it or fail because of it, and once
it answers again every completed payment reaches it, exactly once after deduplication, nothing
dead-lettered (SPEC.md section 5, ExternalDataConsumer)."""

from __future__ import annotations

import asyncio

import pytest
from invariants import (
    assert_nothing_dead_lettered,
    assert_outboxes_drain,
    assert_payments_hold,
    xfail_if_known_bugs_showed,
)
from load import new_buyers, shopping
from saga_invariants import deliveries
from stack import Stack, launch

from commerce_kit.testing import eventually

# A minute and a half of outage: `make test-faults` only (docs/reliability.md).
pytestmark = [pytest.mark.timeout(900), pytest.mark.faults_full]

FAILING_SECONDS, SLOW_SECONDS = 30, 60
#: Longer than DATA_PLATFORM_TIMEOUT_SECONDS (3 s): every delivery times out meanwhile.
SLOW_DELAY = 8.0


async def failures(stack: Stack, reason: str) -> float:
    return await stack.metric("payment", rf'data_platform_failures_total\{{reason="{reason}"\}}')


async def test_a_failing_then_slow_data_platform_gets_every_payment_once(
    postgres_url, kafka_bootstrap, tmp_path
):
    async with launch(postgres_url, kafka_bootstrap, tmp_path) as stack:
        shop = stack.shop
        buyers = await new_buyers(shop, 6, products=2, funds=300_000, coupon=False)
        over = asyncio.Event()
        modes: list[str] = []

        async def platform_trouble() -> None:
            await eventually(
                lambda: stack.db.fetchval(
                    "SELECT count(*) >= 3 FROM payments.payments WHERE user_id = ANY($1::bigint[])"
                    " AND status = 'COMPLETED'",
                    buyers.users,
                ),
                timeout=60,
                what="payments completed",
            )
            await stack.platform_mode("fail")
            modes.append("fail")
            await asyncio.sleep(FAILING_SECONDS)  # the fault's own duration
            await stack.platform_mode("slow", SLOW_DELAY)
            modes.append("slow")
            await asyncio.sleep(SLOW_SECONDS)  # the fault's own duration
            await stack.platform_mode("ok")
            over.set()

        trouble = asyncio.create_task(platform_trouble())
        await shopping(shop, buyers, rounds=3, until=over, pause=1.0, within=400)
        await trouble
        print(f"{buyers.answers.summary()}")

        # Payments never noticed: every answer a definite one, none "not now".
        buyers.answers.assert_clean()
        assert buyers.answers.not_now() == 0, buyers.answers.summary()
        # The platform really failed, then really timed out, while payments were being delivered.
        assert await failures(stack, "500") > 0
        assert await failures(stack, "unreachable") > 0
        # Every completed payment reaches it once after deduplication, and nothing was given up on.
        await assert_payments_hold(stack, buyers)
        await assert_outboxes_drain(stack)
        await assert_nothing_dead_lettered(stack)
        # Deliveries that timed out on our side still arrived, late, and were sent again: the
        # platform got some payments twice and deduplicated them by their Idempotency-Key.
        got = await deliveries(stack)
        assert got["received"] > got["unique"], got["received"]
        await xfail_if_known_bugs_showed(stack, buyers)
