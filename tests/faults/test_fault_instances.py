"""Two instances of every service on the same PostgreSQL, Redis and Kafka, behind one gateway that
balances between them (and balances their calls to one another). The coupon flood and the payments
are split between the instances, and SPEC.md's invariants hold as with one; the outbox relays share
the buckets; the jobs that must run once do: the order expiry (both instances run it every half
second) and the ranking rebuild (triggered on both at once). Then one instance of the coupon and
payment services is killed mid-load: the gateway skips it, its twin takes over its sagas."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest
import pytest_asyncio
from invariants import (
    assert_coupon_flood_holds,
    assert_nothing_dead_lettered,
    assert_outboxes_drain,
    assert_payments_hold,
    read_topic,
    when_sagas_are_in_flight,
    xfail_if_known_bugs_showed,
)
from load import coupon_flood, flood_users, new_buyers, shopping
from shop import line
from stack import Stack, launch

from commerce_contracts import decode_event
from commerce_contracts.events.orders import OrderExpired
from commerce_contracts.registry import ORDER_EVENTS
from commerce_kit.auth import SERVICE, mint_token
from commerce_kit.testing import eventually

pytestmark = pytest.mark.timeout(900)

TWO = (1, 2)

SETTINGS = {
    # Both instances look for unpaid orders every half second; an order is due after a minute.
    "ORDER_EXPIRY_INTERVAL_SECONDS": "0.5",
    "ORDER_PAYMENT_TIMEOUT_MINUTES": "1",
    # A rebuild long enough (a thousand days, one transaction each) for two triggers to meet.
    "RANKING_REBUILD_DAYS": "1000",
}


@pytest_asyncio.fixture(scope="module")
async def stack(postgres_url, kafka_bootstrap, tmp_path_factory):
    home = tmp_path_factory.mktemp("instances")
    async with launch(postgres_url, kafka_bootstrap, home, instances=2, settings=SETTINGS) as running:
        yield running


async def requests_served(stack: Stack, service: str, method: str, route: str, instance: int) -> float:
    pattern = rf'http_request_duration_seconds_count\{{.*method="{method}".*route="{route}".*\}}'
    return await stack.metric(service, pattern, instance)


async def test_two_instances_share_the_load_and_keep_every_invariant(stack):
    shop, db = stack.shop, stack.db
    # The outbox relays of the two instances split the buckets between them.
    for schema in ("catalog", "orders", "payments"):

        async def shared(schema=schema) -> bool:
            owners = await db.fetch(
                f"SELECT owner, count(*) AS n FROM {schema}.outbox_leases"
                " WHERE lease_until > now() GROUP BY owner"
            )
            return len(owners) == 2 and sum(o["n"] for o in owners) == 16

        await eventually(shared, timeout=60, interval=0.5, what=f"{schema}'s buckets shared by two relays")

    buyers = await new_buyers(shop, 16)
    stock = 60
    coupon = await shop.new_coupon("FIXED", 500, totalQuantity=stock)
    flooding = asyncio.create_task(
        coupon_flood(shop, coupon, stock, flood_users(300), repeats=80, concurrency=8, rate=40)
    )
    await shopping(shop, buyers, rounds=4)
    flood = await flooding
    print(f"{buyers.answers.summary()}; {flood.answers.summary()}")

    buyers.answers.assert_clean()
    flood.answers.assert_clean()
    # Nothing is down: no "not now" (a refund starts at once on either instance).
    assert flood.answers.not_now() == 0
    assert buyers.answers.not_now() == 0, buyers.answers.summary()
    await assert_coupon_flood_holds(stack, flood)
    await assert_payments_hold(stack, buyers)
    await assert_outboxes_drain(stack)
    await assert_nothing_dead_lettered(stack)
    # Both instances served the flood and the payments.
    for k in TWO:
        # (The issue route's own counter: its HTTP timings are labelled route="unmatched".)
        assert await stack.metric("coupon", r"coupon_issue_requests_total\{.*\}", k) > 0
        assert await requests_served(stack, "payment", "POST", "/api/v1/payments", k) > 0
    await xfail_if_known_bugs_showed(stack, buyers)


async def test_the_order_expiry_runs_once_with_two_instances(stack):
    shop, db = stack.shop, stack.db
    buyers = await new_buyers(shop, 4, coupon=False)
    product = buyers.products[0]
    orders = [
        (await shop.placed(user, [line(product, 0, 1)]))["orderId"] for user in buyers.users for _ in range(5)
    ]
    # Twenty orders left unpaid for two minutes (no API can age an order): both instances' jobs,
    # every half second, find them due at once.
    await db.execute(
        "UPDATE orders.orders SET created_at = now() - interval '2 minutes' WHERE id = ANY($1::bigint[])",
        orders,
    )

    async def all_expired() -> bool:
        return await db.fetchval(
            "SELECT count(*) = $2 FROM orders.orders WHERE id = ANY($1::bigint[]) AND status = 'EXPIRED'",
            orders,
            len(orders),
        )

    await eventually(all_expired, timeout=60, interval=0.25, what="every due order expired")
    # Each expired once: one OrderExpired event per order.
    await assert_outboxes_drain(stack)

    async def one_event_each() -> collections.Counter:
        events = [decode_event(r.value, ORDER_EVENTS.events) for r in await read_topic(stack, ORDER_EVENTS)]
        return collections.Counter(
            e.order_id for e in events if isinstance(e, OrderExpired) and e.order_id in orders
        )

    expired = await one_event_each()
    assert expired == collections.Counter(dict.fromkeys(orders, 1))


async def test_the_ranking_rebuild_triggered_on_both_instances_at_once_runs_once(stack):
    admin = {"Authorization": f"Bearer {stack.admin_token()}"}
    async with httpx.AsyncClient(timeout=30) as http:

        async def trigger(instance: int) -> dict:
            url = f"{stack.service_url('ranking', instance)}/api/v1/admin/rankings/rebuild"
            answer = await http.post(url, headers=admin)
            assert answer.status_code == 202, answer.text
            return answer.json()

        answers = await asyncio.gather(trigger(1), trigger(2))
        assert sorted(a["status"] for a in answers) == ["ALREADY_RUNNING", "STARTED"], answers
        started = next(a["runId"] for a in answers if a["status"] == "STARTED")

        async def finished() -> dict | None:
            url = f"{stack.service_url('ranking', 2)}/api/v1/admin/rankings/rebuilds/{started}"
            run = (await http.get(url, headers=admin)).json()
            return run if run["status"] != "RUNNING" else None

        run = await eventually(finished, timeout=120, interval=0.5, what=f"rebuild {started} finished")
    assert run["status"] == "DONE", run
    # No two runs ever overlapped, whichever instance or trigger started them.
    overlapping = await stack.db.fetchval(
        "SELECT count(*) FROM rankings.rebuild_runs a JOIN rankings.rebuild_runs b ON a.id < b.id"
        " AND tstzrange(a.started_at, coalesce(a.finished_at, 'infinity'))"
        " && tstzrange(b.started_at, coalesce(b.finished_at, 'infinity'))"
    )
    assert overlapping == 0


@pytest.mark.faults_full  # waits out a saga lease: `make test-faults` only (docs/reliability.md)
async def test_an_instance_killed_mid_load_is_skipped_and_its_twin_takes_over(stack):
    shop, db = stack.shop, stack.db
    buyers = await new_buyers(shop, 16)
    stock = 60
    coupon = await shop.new_coupon("FIXED", 500, totalQuantity=stock)
    concurrency = 8
    back = asyncio.Event()
    seen: dict[str, int] = {}

    async def kill_one_of_each() -> None:
        await when_sagas_are_in_flight(db, buyers.users)
        killed_at = await db.fetchval("SELECT clock_timestamp()")
        # The coupon service's API and its issuer (the consumer's partitions move to the twin's).
        await asyncio.gather(*(stack.kill(name, 1) for name in ("payment", "coupon", "coupon-issuer")))

        # The twin's recovery worker resumes the dead instance's sagas once their leases lapse,
        # before the dead one is back.
        async def resumed_by_the_twin() -> int:
            return await db.fetchval(
                "SELECT count(*) FROM payments.payment_transitions t"
                " JOIN payments.payments p ON p.id = t.payment_id"
                " WHERE p.user_id = ANY($1::bigint[]) AND t.event = 'RESUMED' AND t.at > $2",
                buyers.users,
                killed_at,
            )

        seen["resumed"] = await eventually(
            resumed_by_the_twin, timeout=60, interval=0.25, what="sagas resumed"
        )
        await asyncio.gather(*(stack.restart(name, 1) for name in ("payment", "coupon", "coupon-issuer")))
        back.set()

    killer = asyncio.create_task(kill_one_of_each())
    flooding = asyncio.create_task(
        coupon_flood(shop, coupon, stock, flood_users(300), repeats=80, concurrency=concurrency, rate=20)
    )
    await shopping(shop, buyers, rounds=3, until=back, pause=0.2)
    flood = await flooding
    await killer
    print(f"{buyers.answers.summary()}; {flood.answers.summary()}; {seen}")

    buyers.answers.assert_clean()
    flood.answers.assert_clean()
    # Only requests in flight on the killed instances failed; the gateway sent the rest to the twins.
    assert flood.answers.not_now("issue") <= concurrency, flood.answers.summary()
    assert buyers.answers.count("pay", {502, 504}) <= len(buyers.users), buyers.answers.summary()
    assert seen["resumed"] > 0
    await assert_coupon_flood_holds(stack, flood)
    await assert_payments_hold(stack, buyers)
    await assert_outboxes_drain(stack)
    await assert_nothing_dead_lettered(stack)
    await xfail_if_known_bugs_showed(stack, buyers)


async def test_a_payment_made_on_one_instance_is_refunded_at_once_on_the_other(stack):
    shop = stack.shop
    buyers = await new_buyers(shop, 1, coupon=False)
    user = buyers.users[0]
    order = await shop.placed(user, [line(buyers.products[0], 0, 1)])
    async with httpx.AsyncClient(timeout=30) as http:
        paid = await http.post(
            f"{stack.service_url('payment', 1)}/api/v1/payments",
            json={"orderId": order["orderId"]},
            headers=shop.user(user),
        )
        assert paid.status_code == 201, paid.text
        # The order service's cancel of a paid order, as it reaches the other payment instance.
        service = {
            "Authorization": f"Bearer {mint_token(stack.env['JWT_SECRET'], 'svc:order', [SERVICE], 60)}"
        }
        refund = await http.put(
            f"{stack.service_url('payment', 2)}/internal/v1/payments/{paid.json()['paymentId']}/refund",
            headers=service,
        )
    assert refund.status_code == 200, refund.text
    assert refund.json()["status"] == "REFUNDED"
