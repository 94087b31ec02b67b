"""First-come-first-served issue on real Redis, Kafka and PostgreSQL (SPEC.md section 3): the API's
answers, the reservation's life, and the invariants under a flood, a Redis flush and a killed
consumer. No sleeps: every wait is bounded and waits for a condition."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager

from commerce_contracts import decode_event
from commerce_contracts.events.coupon_issue import CouponIssueRequested
from commerce_contracts.registry import COUPON_ISSUE
from commerce_kit.testing import eventually, tokens, topics_of_its_own
from coupon_service.app import create_app
from coupon_service.service_layer.settlement import GATE_REBUILT


async def issue(client, coupon_id: int, user: int) -> httpx.Response:
    return await client.post(f"/api/v1/coupons/{coupon_id}/issue", headers=tokens.bearer(user))


async def status_of(client, rid: str, user: int) -> dict:
    answer = await client.get(f"/api/v1/coupons/issue-requests/{rid}", headers=tokens.bearer(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def final(client, rid: str, user: int, timeout: float = 60) -> dict:  # noqa: ASYNC109
    async def settled():
        body = await status_of(client, rid, user)
        return body if body["status"] != "PENDING" else None

    return await eventually(settled, timeout=timeout, interval=0.1, what=f"reservation {rid} settled")


# --- the API ---------------------------------------------------------------------------------------


async def test_a_request_is_accepted_at_once_and_then_issued(client, new_coupon, fresh_id, pool):
    coupon, user = await new_coupon(totalQuantity=3), fresh_id()
    answer = await issue(client, coupon["id"], user)
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "PENDING" and body["reservationId"]
    settled = await final(client, body["reservationId"], user)
    assert settled["status"] == "ISSUED" and settled["reason"] is None
    assert settled["couponId"] == coupon["id"] and settled["userId"] == user
    held = await pool.fetchval(
        "SELECT id FROM user_coupons WHERE user_id = $1 AND coupon_id = $2", user, coupon["id"]
    )
    assert settled["userCouponId"] == held


async def test_a_repeat_gets_the_first_reservation(client, new_coupon, fresh_id):
    coupon, user = await new_coupon(), fresh_id()
    first = (await issue(client, coupon["id"], user)).json()["reservationId"]
    again = await issue(client, coupon["id"], user)
    assert again.status_code == 200 and again.json()["reservationId"] == first
    await final(client, first, user)
    after = await issue(client, coupon["id"], user)
    assert after.json() == {"reservationId": first, "status": "ISSUED"}


async def test_accepted_requests_are_marked_published_at_the_gate(client, new_coupon, fresh_id, gate_redis):
    """The marks are written many at a time (one command per coupon): every user's entry ends as
    "<their reservation>|1", which is what spares a repeat a second publish."""
    coupon, users = await new_coupon(), [fresh_id() for _ in range(30)]
    answers = await asyncio.gather(*(issue(client, coupon["id"], u) for u in users))
    assert [a.status_code for a in answers] == [202] * len(users)
    rids = [a.json()["reservationId"] for a in answers]
    expected = {str(u).encode(): f"{r}|1".encode() for u, r in zip(users, rids, strict=True)}

    async def marked():
        held = await gate_redis.hgetall(f"coupon:{{{coupon['id']}}}:reservations")
        return held if all(held.get(k) == v for k, v in expected.items()) else None

    await eventually(marked, timeout=10, interval=0.02, what="every reservation marked published")


async def test_marks_written_into_an_emptied_redis_bring_back_the_dedupe_with_its_expiry(
    client, new_coupon, fresh_id, gate_redis
):
    """Redis lost the reservations between a request and its mark: the mark puts the entry back,
    and the hash it recreates expires like the one the gate writes."""
    from coupon_service.adapters.gate import RESERVATIONS_TTL, Gate

    coupon, user = await new_coupon(), fresh_id()
    key = f"coupon:{{{coupon['id']}}}:reservations"
    gate = Gate(gate_redis)
    gate.published(coupon["id"], user, "r-1")
    await gate.flush_published()
    assert await gate_redis.hget(key, str(user)) == b"r-1|1"
    assert 0 < await gate_redis.ttl(key) <= RESERVATIONS_TTL


async def test_finishing_a_batch_gives_back_each_unit_once_and_releases_the_settled_ones(
    fresh_id, gate_redis
):
    """After a batch: units of reservations that got no copy go back (once, however often the batch
    is finished again: a redelivery), units that became copies only leave the "taken" set."""
    from coupon_service.adapters.gate import Gate

    gate, coupon_id = Gate(gate_redis), fresh_id()
    await gate.rebuild(coupon_id, 3)
    assert await gate.take(coupon_id, ["won-1", "won-2", "lost"]) == [True, True, True]
    assert await gate.counter(coupon_id) == 0
    for time_, expected in ((1, 1), (2, 0)):  # the second time: a redelivered batch, nothing to give
        given = await gate.finish(coupon_id, ["lost", "never-took"], ["won-1", "won-2"])
        assert given == expected, time_
        assert await gate.counter(coupon_id) == 1
    assert await gate_redis.scard(f"coupon:{{{coupon_id}}}:taken") == 0


async def test_a_sold_out_coupon_is_refused_at_once_once_the_gate_knows(
    client, new_coupon, fresh_id, problem
):
    coupon = await new_coupon(totalQuantity=1)
    winner, late = fresh_id(), fresh_id()
    await final(client, (await issue(client, coupon["id"], winner)).json()["reservationId"], winner)
    problem(await issue(client, coupon["id"], late), 409, "COUPON_SOLD_OUT")
    # The winner asking again still gets their reservation, not "sold out".
    assert (await issue(client, coupon["id"], winner)).json()["status"] == "ISSUED"


async def test_an_unknown_coupon_is_not_found(client, fresh_id, problem):
    problem(await issue(client, 987_654_321, fresh_id()), 404, "COUPON_NOT_FOUND")


@pytest.mark.parametrize("window", ["future", "past"])
async def test_outside_its_window_a_coupon_cannot_be_requested(client, new_coupon, fresh_id, problem, window):
    now = datetime.now(UTC)
    start, end = (
        (now + timedelta(days=1), now + timedelta(days=2))
        if window == "future"
        else (now - timedelta(days=2), now - timedelta(days=1))
    )
    coupon = await new_coupon(issueStartAt=start.isoformat(), issueEndAt=end.isoformat())
    problem(await issue(client, coupon["id"], fresh_id()), 409, "COUPON_NOT_ISSUABLE")


async def test_a_request_needs_a_user_token(client, new_coupon, problem):
    coupon = await new_coupon()
    problem(await client.post(f"/api/v1/coupons/{coupon['id']}/issue"), 401, "UNAUTHENTICATED")


async def test_only_its_owner_may_read_a_reservation(client, new_coupon, fresh_id, problem):
    coupon, user, other = await new_coupon(), fresh_id(), fresh_id()
    rid = (await issue(client, coupon["id"], user)).json()["reservationId"]
    problem(
        await client.get(f"/api/v1/coupons/issue-requests/{rid}", headers=tokens.bearer(other)),
        403,
        "FORBIDDEN",
    )


@pytest.mark.parametrize("rid", ["nope", "1.2.abc.def", "x" * 99])
async def test_an_unknown_or_forged_reservation_is_not_found(client, fresh_id, problem, rid):
    answer = await client.get(f"/api/v1/coupons/issue-requests/{rid}", headers=tokens.bearer(fresh_id()))
    problem(answer, 404, "RESERVATION_NOT_FOUND")


# --- the invariants under load and faults ----------------------------------------------------------


async def flood(
    client, coupon_id: int, users: list[int], repeats: int, concurrency: int = 64
) -> list[tuple[int, str]]:
    """Every user asks once and `repeats` of them ask again, all at once in random order. Returns
    (user, reservation id) for every accepted request; a request that found the coupon sold out
    (409) is a legal answer and has no reservation."""
    asks = users + random.sample(users, repeats)
    random.shuffle(asks)
    gate = asyncio.Semaphore(concurrency)
    accepted: list[tuple[int, str]] = []

    async def one(user: int) -> None:
        async with gate:
            answer = await issue(client, coupon_id, user)
        assert answer.status_code in (200, 202, 409), answer.text
        if answer.status_code == 409:
            assert answer.json()["code"] == "COUPON_SOLD_OUT"
        else:
            accepted.append((user, answer.json()["reservationId"]))

    await asyncio.gather(*(one(u) for u in asks))
    return accepted


async def partition_order(settings, coupon_id: int) -> list[tuple[str, int]]:
    """(reservation id, user id) of the coupon's requests in the order Kafka holds them."""
    topic = settings.topic(COUPON_ISSUE.name)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[tuple[int, int, str, int]] = []
    try:
        await eventually(
            lambda: asyncio.sleep(0, len(consumer.assignment()) == COUPON_ISSUE.partitions),
            what="every partition assigned",
        )
        ends = await consumer.end_offsets(list(consumer.assignment()))

        async def read_to_the_end() -> bool:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for record in records:
                    if record.key == str(coupon_id).encode():
                        event = decode_event(record.value, CouponIssueRequested)
                        found.append((tp.partition, record.offset, event.reservation_id, event.user_id))
            return all([await consumer.position(tp) >= end for tp, end in ends.items()])

        await eventually(read_to_the_end, timeout=30, what="the whole topic read")
    finally:
        await consumer.stop()
    assert len({p for p, *_ in found}) <= 1, "one coupon's requests live on one partition"
    return [(rid, user) for _, _, rid, user in sorted(found)]


async def assert_invariants(client, pool, gate_redis, settings, coupon_id: int, stock: int, accepted) -> None:
    # Every reservation ends ISSUED or REJECTED, within a bound (a repeat got the same reservation).
    reservations = {rid: user for user, rid in accepted}
    outcomes = await asyncio.gather(
        *(final(client, rid, user, timeout=90) for rid, user in reservations.items())
    )
    assert all(o["status"] in ("ISSUED", "REJECTED") for o in outcomes)
    issued = await pool.fetch("SELECT user_id FROM user_coupons WHERE coupon_id = $1", coupon_id)
    users = [r["user_id"] for r in issued]
    # Exactly `stock` issued, to distinct users, and the database says none is left.
    assert len(users) == stock and len(set(users)) == stock
    assert await pool.fetchval("SELECT remaining FROM coupons WHERE id = $1", coupon_id) == 0
    # The reservations say the same as the copies.
    assert sorted(o["userId"] for o in outcomes if o["status"] == "ISSUED") == sorted(users)
    # Redis agrees with PostgreSQL (the safety net makes it so within a bound, whatever happened).
    await eventually(
        lambda: gate_redis.get(f"coupon:{{{coupon_id}}}:stock"), timeout=30, what="a gate counter"
    )
    await eventually(
        lambda: _equals(gate_redis.get(f"coupon:{{{coupon_id}}}:stock"), b"0"), timeout=30, what="Redis = 0"
    )
    # The winners are the first `stock` distinct users in the partition's order.
    order = await partition_order(settings, coupon_id)
    first: list[int] = []
    for _, user in order:
        if user not in first:
            first.append(user)
    assert set(users) == set(first[:stock])


async def _equals(value, expected) -> bool:
    return (await value) == expected


@pytest_asyncio.fixture(scope="module")
async def gate_redis(settings):
    client = aioredis.from_url(settings.redis_url)
    yield client
    await client.aclose()


async def test_a_flood_issues_exactly_the_stock_to_the_first_distinct_users(
    client, pool, gate_redis, settings, new_coupon, fresh_id
):
    stock, users = 40, [fresh_id() for _ in range(160)]
    coupon = await new_coupon(totalQuantity=stock)
    accepted = await flood(client, coupon["id"], users, repeats=60)
    await assert_invariants(client, pool, gate_redis, settings, coupon["id"], stock, accepted)


async def test_a_redis_flush_in_the_middle_of_the_flood_breaks_nothing(
    client, pool, gate_redis, settings, new_coupon, fresh_id
):
    stock, users = 40, [fresh_id() for _ in range(160)]
    coupon = await new_coupon(totalQuantity=stock)

    async def flush_when_half_issued():
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) >= 15 FROM user_coupons WHERE coupon_id = $1", coupon["id"]
            ),
            timeout=60,
            interval=0.01,
            what="some copies issued",
        )
        await gate_redis.flushdb()  # this test session's Redis db: everything the gate knew is gone

    rebuilt_before = GATE_REBUILT._value.get()
    flusher = asyncio.create_task(flush_when_half_issued())
    accepted = await flood(client, coupon["id"], users, repeats=60, concurrency=16)
    await flusher
    await assert_invariants(client, pool, gate_redis, settings, coupon["id"], stock, accepted)
    assert GATE_REBUILT._value.get() > rebuilt_before  # the flush hit while requests were being settled


async def test_a_batch_another_consumer_settled_meanwhile_keeps_its_outcomes(
    app, pool, gate_redis, new_coupon, fresh_id, monkeypatch
):
    """Two consumers on one batch (the one that had the partition a moment ago, and this one, which
    found the batch unsettled just before the other committed): this one's insert of new outcomes
    meets the other's, and it decides again under the lock, keeping them. Nothing is issued twice,
    no unit is left taken."""
    from coupon_service.adapters import issue_requests
    from coupon_service.service_layer.settlement import Settlement

    settlement, ids = app.deps.settlement, app.deps.reservations.ids
    coupon = (await new_coupon(totalQuantity=2))["id"]
    batch = [
        CouponIssueRequested(
            reservation_id=ids.new(coupon, user),
            user_id=user,
            coupon_id=coupon,
            requested_at=datetime.now(UTC),
        )
        for user in (fresh_id(), fresh_id(), fresh_id())
    ]
    rids = [e.reservation_id for e in batch]
    await Settlement(pool, settlement.gate).settle(batch)  # the other consumer
    recorded = await pool.fetch(
        "SELECT reservation_id, status, reason, user_coupon_id FROM issue_requests"
        " WHERE reservation_id = ANY($1::text[]) ORDER BY reservation_id",
        rids,
    )
    real_settled = issue_requests.settled

    async def seen_before_the_other_committed(conn, reservation_ids):
        monkeypatch.setattr(issue_requests, "settled", real_settled)
        return {}

    monkeypatch.setattr(issue_requests, "settled", seen_before_the_other_committed)
    await settlement.settle(batch)
    assert issue_requests.settled is real_settled  # this pass did take the racing path
    assert [tuple(r) for r in recorded] == [
        tuple(r)
        for r in await pool.fetch(
            "SELECT reservation_id, status, reason, user_coupon_id FROM issue_requests"
            " WHERE reservation_id = ANY($1::text[]) ORDER BY reservation_id",
            rids,
        )
    ]
    assert sorted(r["status"] for r in recorded) == ["ISSUED", "ISSUED", "REJECTED"]
    assert await pool.fetchval("SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon) == 2
    assert await pool.fetchval("SELECT remaining FROM coupons WHERE id = $1", coupon) == 0
    assert await gate_redis.get(f"coupon:{{{coupon}}}:stock") == b"0"
    assert await gate_redis.scard(f"coupon:{{{coupon}}}:taken") == 0


async def test_a_holder_asking_again_after_redis_forgot_takes_no_copy_from_the_first_timer_behind_them(
    app, pool, gate_redis, new_coupon, fresh_id
):
    settlement, ids = app.deps.settlement, app.deps.reservations.ids
    coupon = (await new_coupon(totalQuantity=2))["id"]
    holder, first_timer, later = fresh_id(), fresh_id(), fresh_id()

    def ask(user: int) -> CouponIssueRequested:
        return CouponIssueRequested(
            reservation_id=ids.new(coupon, user),
            user_id=user,
            coupon_id=coupon,
            requested_at=datetime.now(UTC),
        )

    async def outcome(request: CouponIssueRequested) -> tuple[str, str | None]:
        row = await pool.fetchrow(
            "SELECT status, reason FROM issue_requests WHERE reservation_id = $1", request.reservation_id
        )
        return row["status"], row["reason"]

    first = ask(holder)
    await settlement.settle([first])
    # Redis forgot the holder's reservation (a flush, a restart): their repeat is a new reservation,
    # settled in one batch with the first-timer right behind it, one copy left.
    again, behind = ask(holder), ask(first_timer)
    await settlement.settle([again, behind])
    last = ask(later)
    await settlement.settle([last])
    assert await outcome(first) == ("ISSUED", None)
    assert await outcome(again) == ("REJECTED", "ALREADY_ISSUED")
    assert await outcome(behind) == ("ISSUED", None)  # not SOLD_OUT with the copy left for `later`
    assert await outcome(last) == ("REJECTED", "SOLD_OUT")
    assert await gate_redis.get(f"coupon:{{{coupon}}}:stock") == b"0"
    assert await gate_redis.scard(f"coupon:{{{coupon}}}:taken") == 0


# --- a consumer process killed mid-flood ---------------------------------------------------------


@pytest_asyncio.fixture
async def api_only_and_consumer_process(settings, infra, namespace, test_env):
    """An API-only app in this process and CouponIssueConsumer in a child process, on topics of this
    test's own; the child can be killed (SIGKILL) and started again."""
    own = topics_of_its_own(infra.kafka_bootstrap, f"{namespace}.{secrets.token_hex(3)}.")
    async with own as prefix:
        api_settings = settings.model_copy(update={"topic_prefix": prefix, "issue_consumer": False})
        app = create_app(api_settings)
        env = {**os.environ, **test_env, "TOPIC_PREFIX": prefix, "COUPON_RECONCILE_SECONDS": "1"}
        children: list[asyncio.subprocess.Process] = []

        async def start_consumer() -> asyncio.subprocess.Process:
            port = _free_port()
            child = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "coupon_service", "serve", "--port", str(port)),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            children.append(child)
            async with httpx.AsyncClient() as http:

                async def ready():
                    try:
                        return (await http.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200
                    except httpx.TransportError:
                        assert child.returncode is None, "the consumer process died on start"
                        return False

                await eventually(ready, timeout=60, what="the consumer process ready")
            return child

        async with LifespanManager(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://coupon"
            ) as api:
                yield api, api_settings, start_consumer
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                await asyncio.wait_for(child.wait(), 30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
async def test_a_consumer_killed_and_restarted_mid_flood_breaks_nothing(
    api_only_and_consumer_process, pool, gate_redis, new_coupon, fresh_id
):
    api, api_settings, start_consumer = api_only_and_consumer_process
    # More copies than the first half can take: the second half is accepted while no consumer runs
    # (the gate knows "sold out" only from what was settled), so work is left for the new process
    # however much of the first half the killed one settled (it fetches in big batches).
    stock, users = 150, [fresh_id() for _ in range(200)]
    coupon = await new_coupon(totalQuantity=stock)
    consumer = await start_consumer()

    async def kill_when_some_issued():
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) >= 10 FROM user_coupons WHERE coupon_id = $1", coupon["id"]
            ),
            timeout=60,
            interval=0.01,
            what="some copies issued",
        )
        consumer.send_signal(signal.SIGKILL)
        await asyncio.wait_for(consumer.wait(), 10)

    # The first half of the flood meets the consumer; it is killed while settling it; the second half
    # arrives while no consumer runs; a new process takes over and must settle the rest exactly.
    killer = asyncio.create_task(kill_when_some_issued())
    accepted = await flood(api, coupon["id"], users[:100], repeats=30, concurrency=8)
    await killer
    accepted += await flood(api, coupon["id"], users[100:], repeats=30, concurrency=8)
    settled_before = await pool.fetchval(
        "SELECT count(*) FROM issue_requests WHERE coupon_id = $1", coupon["id"]
    )
    assert settled_before < len({rid for _, rid in accepted})  # work was left for the new process
    await start_consumer()  # takes the partition over and re-reads what was not acknowledged
    await assert_invariants(api, pool, gate_redis, api_settings, coupon["id"], stock, accepted)


async def test_a_poison_request_is_dead_lettered_and_rejected_and_the_partition_moves_on(
    app, client, pool, settings, new_coupon, fresh_id, monkeypatch
):
    coupon = await new_coupon(totalQuantity=10)
    unlucky, after = fresh_id(), fresh_id()
    settlement = app.deps.settlement
    real = settlement.settle

    async def settle_but_fail_on_the_unlucky(events):
        if any(e.user_id == unlucky for e in events):
            raise RuntimeError("a bug that only this request triggers")
        await real(events)

    monkeypatch.setattr(settlement, "settle", settle_but_fail_on_the_unlucky)
    rid = (await issue(client, coupon["id"], unlucky)).json()["reservationId"]
    later = (await issue(client, coupon["id"], after)).json()["reservationId"]
    rejected = await final(client, rid, unlucky)
    assert rejected["status"] == "REJECTED" and rejected["reason"] == "UNPROCESSABLE"
    assert (await final(client, later, after))["status"] == "ISSUED"
    letters = await read_topic(settings, COUPON_ISSUE.dead_letter)
    parked = [r for r in letters if rid.encode() in r.value]
    assert parked  # at least once (a rebalance in the middle may park it twice; it is REJECTED once)
    assert all(dict(r.headers)["x-dead-letter-reason"].startswith(b"failed 5 times") for r in parked)


async def read_topic(settings, name: str) -> list:
    consumer = AIOKafkaConsumer(
        settings.topic(name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list = []
    try:
        await eventually(lambda: asyncio.sleep(0, bool(consumer.assignment())), what="an assignment")
        ends = await consumer.end_offsets(list(consumer.assignment()))

        async def to_the_end() -> bool:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
            return all([await consumer.position(tp) >= end for tp, end in ends.items()])

        await eventually(to_the_end, timeout=30, what=f"{name} read")
    finally:
        await consumer.stop()
    return records


async def test_a_user_asking_too_often_is_rate_limited(
    client, new_coupon, fresh_id, problem, app, monkeypatch
):
    monkeypatch.setattr(app.deps.reservations, "rate_per_user", 3)
    coupon, user = await new_coupon(), fresh_id()
    answers = await asyncio.gather(*(issue(client, coupon["id"], user) for _ in range(10)))
    limited = [a for a in answers if a.status_code == 429]
    assert limited and all(a.json()["code"] == "RATE_LIMITED" for a in limited)
    assert len(limited) >= 10 - 3 - 3  # at most the limit in each of the (at most two) seconds it spans
    other = await issue(client, coupon["id"], fresh_id())
    assert other.status_code == 202  # another user is not slowed down


@pytest.mark.parametrize(
    "coupon_id", ["abc", "0", "-1", "1.5", "9223372036854775808", "99999999999999999999999"]
)
async def test_a_malformed_coupon_id_is_refused(client, fresh_id, problem, coupon_id):
    problem(
        await client.post(f"/api/v1/coupons/{coupon_id}/issue", headers=tokens.bearer(fresh_id())),
        400,
        "VALIDATION_FAILED",
    )


async def test_the_issue_route_refuses_a_missing_token_and_a_token_without_a_user(
    client, new_coupon, problem
):
    coupon = await new_coupon()
    problem(await client.post(f"/api/v1/coupons/{coupon['id']}/issue"), 401, "UNAUTHENTICATED")
    problem(
        await client.post(f"/api/v1/coupons/{coupon['id']}/issue", headers=tokens.service()), 403, "FORBIDDEN"
    )


async def test_when_the_gate_is_away_a_request_is_refused_with_503_and_nothing_reserved(
    app, client, new_coupon, fresh_id, problem, monkeypatch
):
    import redis.asyncio as aioredis

    from coupon_service.adapters.gate import Gate
    from coupon_service.adapters.reserve_batcher import ReserveBatcher

    away = Gate(aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    monkeypatch.setattr(app.deps.reservations, "batcher", ReserveBatcher(away))
    coupon = await new_coupon()
    problem(await issue(client, coupon["id"], fresh_id()), 503, "DEPENDENCY_UNAVAILABLE")
