"""CouponIssueConsumer waits out an outage of Redis or PostgreSQL, however long, instead of
dead-lettering the requests it was settling (which would reject them and pass their users over for
later ones): the batch is tried again until the dependency is back, then settled as if nothing had
happened. Real Redis, Kafka and PostgreSQL; the consumer's own connection is pointed at an address
where nothing listens while the request is settled."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from commerce_kit import metrics
from commerce_kit.outages import RETRIED
from commerce_kit.testing import eventually, tokens
from coupon_service.adapters.gate import Gate
from coupon_service.entrypoints.consumers import GROUP

#: The kit's bounded retries would try a batch 5 times, then each of its requests 5 times, and then
#: dead-letter it: the outage outlasts all of that.
MORE_TRIES_THAN_THE_KIT_WOULD_MAKE = 12
#: ... and lasts longer than those retries would (about 1.5 s).
OUTAGE_SECONDS = 3.0


async def issue(client: httpx.AsyncClient, coupon_id: int, user: int) -> str | None:
    """The reservation, or None when the gate already knew the coupon sold out (409)."""
    answer = await client.post(f"/api/v1/coupons/{coupon_id}/issue", headers=tokens.bearer(user))
    if answer.status_code == 409 and answer.json()["code"] == "COUPON_SOLD_OUT":
        return None
    assert answer.status_code == 202, answer.text
    return answer.json()["reservationId"]


async def status_of(client: httpx.AsyncClient, rid: str, user: int) -> dict:
    answer = await client.get(f"/api/v1/coupons/issue-requests/{rid}", headers=tokens.bearer(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest_asyncio.fixture
async def nowhere_redis():
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def nowhere_postgres():
    pool = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:1/nothing", min_size=0, timeout=0.5)
    yield pool
    await pool.close()


def consumed(settings, outcome: str) -> float:
    return metrics.CONSUMED.labels(settings.topic(GROUP), "coupon-issue", outcome)._value.get()


@pytest.mark.parametrize("dependency", ["redis", "postgres"])
async def test_a_request_settled_while_a_dependency_is_away_waits_for_it_and_is_not_dead_lettered(
    app,
    client,
    settings,
    gate_redis_client,
    nowhere_redis,
    nowhere_postgres,
    new_coupon,
    fresh_id,
    monkeypatch,
    dependency,
):
    settlement = app.deps.settlement
    # Quick retries, so that the outage outlasts the kit's retry count many times over in seconds.
    monkeypatch.setattr(app.deps.issue_outages, "first_delay", 0.02)
    monkeypatch.setattr(app.deps.issue_outages, "max_delay", 0.2)
    coupon, user = await new_coupon(totalQuantity=2), fresh_id()
    kit_retried, kit_parked = consumed(settings, "retried"), consumed(settings, "dead_lettered")
    label = "redis" if dependency == "redis" else "network"  # PostgreSQL refusing: a socket error
    waited_before = RETRIED.labels("coupon-issue", label)._value.get()

    tries = 0
    real_settle = settlement.settle

    async def settle(events):  # counts the consumer's tries at this user's request
        nonlocal tries
        tries += any(e.user_id == user for e in events)
        await real_settle(events)

    monkeypatch.setattr(settlement, "settle", settle)
    with monkeypatch.context() as away:
        if dependency == "redis":
            away.setattr(settlement, "gate", Gate(nowhere_redis))
        else:
            away.setattr(settlement, "pool", nowhere_postgres)
        began = time.monotonic()
        rid = await issue(client, coupon["id"], user)  # the API's own Redis and pool are fine
        assert rid is not None

        async def outage_outlasted_the_kits_retries() -> bool:
            return tries >= MORE_TRIES_THAN_THE_KIT_WOULD_MAKE and time.monotonic() - began >= OUTAGE_SECONDS

        await eventually(
            outage_outlasted_the_kits_retries, timeout=30, what=f"the consumer waiting for {label}"
        )
        assert (await status_of(client, rid, user))["status"] == "PENDING"
        assert RETRIED.labels("coupon-issue", label)._value.get() - waited_before >= tries - 1
    # The dependency is back: the same request is settled, in its turn, as if nothing had happened.

    async def settled() -> dict | None:
        body = await status_of(client, rid, user)
        return body if body["status"] != "PENDING" else None

    outcome = await eventually(settled, timeout=30, interval=0.05, what="the request settled")
    assert outcome is not None  # eventually returns the first truthy answer
    assert (outcome["status"], outcome["reason"]) == ("ISSUED", None), outcome
    # Nothing was dead-lettered, and the kit never even saw a failure to retry.
    assert consumed(settings, "dead_lettered") == kit_parked
    assert consumed(settings, "retried") == kit_retried
    # The gate agrees with the database: one copy left, no unit outstanding.
    await gate_agrees(gate_redis_client, coupon["id"], remaining=1)


class GoneAfterTheCommit:
    """The consumer's gate, with Redis going away for `failures` calls right after the database has
    committed a batch (the units cannot be released nor given back yet)."""

    def __init__(self, gate: Gate, failures: int) -> None:
        self.gate, self.failures = gate, failures

    def __getattr__(self, name: str):
        return getattr(self.gate, name)

    async def _away(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise redis_errors.ConnectionError("Connection reset by peer")

    async def finish(self, coupon_id: int, give_back: list[str], settled: list[str]) -> int:
        await self._away()
        return await self.gate.finish(coupon_id, give_back, settled)


async def test_redis_away_right_after_the_commit_leaves_the_gate_right_once_it_is_back(
    app, client, settings, gate_redis_client, new_coupon, fresh_id, monkeypatch
):
    settlement = app.deps.settlement
    monkeypatch.setattr(app.deps.issue_outages, "first_delay", 0.02)
    monkeypatch.setattr(app.deps.issue_outages, "max_delay", 0.2)
    stock = 3
    coupon = await new_coupon(totalQuantity=stock)
    users = [fresh_id() for _ in range(5)]
    kit_retried, kit_parked = consumed(settings, "retried"), consumed(settings, "dead_lettered")
    # More failures than the kit's retries would take for a batch and each of its requests.
    flaky = GoneAfterTheCommit(settlement.gate, failures=5 + 5 * len(users) + 5)
    monkeypatch.setattr(settlement, "gate", flaky)
    accepted = [(user, await issue(client, coupon["id"], user)) for user in users]
    assert all(rid for _, rid in accepted[:stock])

    async def all_settled() -> list[dict] | None:
        bodies = [await status_of(client, rid, user) for user, rid in accepted if rid]
        return bodies if all(b["status"] != "PENDING" for b in bodies) else None

    outcomes = await eventually(all_settled, timeout=60, interval=0.05, what="every request settled")
    assert outcomes is not None  # eventually returns the first truthy answer
    # Redis was away that many times after the commit, and the batch waited for it.
    await eventually(
        lambda: asyncio.sleep(0, flaky.failures == 0), timeout=60, what="Redis back for the consumer"
    )
    issued = [o["userId"] for o in outcomes if o["status"] == "ISSUED"]
    assert issued == users[:stock]  # first come, first served
    assert {o["reason"] for o in outcomes if o["status"] == "REJECTED"} <= {"SOLD_OUT"}
    # The units of the copies were released and those of the refused given back once Redis was
    # back: the counter says what the database says, nothing outstanding.
    await gate_agrees(gate_redis_client, coupon["id"], remaining=0)
    assert consumed(settings, "dead_lettered") == kit_parked
    assert consumed(settings, "retried") == kit_retried


async def gate_agrees(redis: aioredis.Redis, coupon_id: int, remaining: int) -> None:
    async def agrees() -> bool:
        stock = await redis.get(f"coupon:{{{coupon_id}}}:stock")
        return stock == str(remaining).encode() and await redis.scard(f"coupon:{{{coupon_id}}}:taken") == 0

    await eventually(agrees, timeout=30, what=f"the gate at {remaining}, no unit outstanding")


@pytest_asyncio.fixture
async def gate_redis_client(settings):
    client = aioredis.from_url(settings.redis_url)
    yield client
    await client.aclose()
