"""The first-come-first-served coupon under a flood (SPEC.md section 3), all through
`POST /api/v1/coupons/{id}/issue` with a pre-minted token per user:

1. the 202 path: distinct users on a coupon that does not run out, so every answer is a 202 (Redis
   gate, Kafka publish acknowledged, Redis mark): accepted/s against the coupon service's liveness;
2. the flood: `flood_users` distinct users plus 10% repeats for `flood_stock` copies, answered 202 (a
   new reservation), 200 (a repeat) or 409 COUPON_SOLD_OUT (expected, no error); then the time until
   every reservation is final, the settling rate (reservations/s) against pgbench's single hot-row
   UPDATE, and the invariants: exactly `flood_stock` issued, nobody twice, `remaining` 0, the Redis
   counter 0;
3. the same flood again at half its rate (constant arrival rate) for the latencies.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from bench import data, loadgen, pgbench, wrk
from bench.report.table import Line
from bench.scenarios.common import Context, merge_errors

SOLD_OUT = 409  # COUPON_SOLD_OUT: an answer the flood expects


def run(ctx: Context) -> None:
    plan, stack = ctx.plan, ctx.stack
    asks = data.flood_users(plan.flood_users, plan.repeat_share)
    distinct = list(dict.fromkeys(asks))  # first-ask order, each user once
    flood_file, distinct_file = ctx.out / "flood-tokens.txt", ctx.out / "distinct-tokens.txt"
    tokens = data.write_tokens(flood_file, stack.jwt_secret, asks)
    data.write_tokens(distinct_file, stack.jwt_secret, distinct)
    url = stack.gateway_url
    client = loadgen.Client(url)

    def requests(coupon_id: int, users: list[int]) -> list[bytes]:
        path = f"/api/v1/coupons/{coupon_id}/issue"
        return [client.build("POST", path, {"Authorization": f"Bearer {tokens[u]}"}) for u in users]

    # 1. The 202 path: a coupon that cannot run out during the run, after a warm-up.
    _warm_up(ctx, min(20_000, plan.flood_users // 2))
    unlimited = asyncio.run(_new_coupon(ctx, "Bench 202 path", 10_000_000))
    watch = Watch(ctx, unlimited)
    with ctx.profiled("coupon.accept", ["coupon", "coupon-issuer"], plan.wrk_seconds):
        ceiling = wrk.run(
            url,
            seconds=plan.wrk_seconds,
            method="POST",
            path=f"/api/v1/coupons/{unlimited}/issue",
            tokens_file=distinct_file,
            connections=plan.connections,
        )
    accepted = ceiling.answers.statuses.get(202, 0)
    settled_202 = watch.result(accepted)
    accept_rate = ceiling.rate_of(202)
    # Latencies at half the 202 rate, on a second such coupon, each user once.
    unlimited2 = asyncio.run(_new_coupon(ctx, "Bench 202 path (constant rate)", 10_000_000))
    seconds = min(plan.rate_seconds, len(distinct) / max(1.0, accept_rate / 2))
    watch = Watch(ctx, unlimited2)
    samples, rate, half = ctx.constant_rate(requests(unlimited2, distinct), accept_rate, seconds=seconds)
    watch.result(samples.answers.statuses.get(202, 0))
    ctx.record(
        "coupon.accept", {"wrk": ceiling.as_dict(), "settle": settled_202, "constant_rate": samples.as_dict()}
    )
    ctx.add(
        Line(
            "coupon.accept",
            "coupon issue: 202 path (distinct users)",
            "coupon",
            rate=accept_rate,
            unit="202/s",
            baseline="health.coupon",
            target=0.7,
            latency=samples.latency("req"),
            latency_rate=rate,
            half_rate=half,
            lag_p99=samples.lag_p99,
            errors=merge_errors(ceiling.answers.errors(), samples.answers.errors()),
            note=(
                f"{accepted:,} accepted in {ceiling.seconds:.1f} s; "
                f"wrk p99 at the ceiling {ceiling.latency.p99:.1f} ms"
            ),
        )
    )

    # 2. The flood.
    coupon = asyncio.run(_new_coupon(ctx, "Bench flood", plan.flood_stock))
    watch = Watch(ctx, coupon)
    started = watch.started
    with ctx.profiled("coupon.flood", ["coupon", "coupon-issuer"], 10):
        flood = wrk.run(
            url,
            seconds=300,
            method="POST",
            path=f"/api/v1/coupons/{coupon}/issue",
            tokens_file=flood_file,
            connections=plan.connections,
        )
    reservations = flood.answers.statuses.get(202, 0)
    settle = watch.result(reservations)
    settle["after_flood"] = (settle["final_at"] or started) - (started + flood.seconds)
    asyncio.run(_invariants(ctx, "flood", coupon, plan.flood_stock, reservations))
    hot_row = pgbench.hot_row(stack.database_url, seconds=plan.pgbench_seconds)

    # 2b. The settling capacity: the API answers slower than the consumer settles (the flood's
    # reservations are final about as fast as they are accepted), so the consumer's own pace is
    # measured on a backlog: the same asks put on the coupon-issue topic directly, as the API
    # would (a CouponIssueRequested per ask, keyed by the coupon), faster than it can settle them.
    backlog_coupon = asyncio.run(_new_coupon(ctx, "Bench settling backlog", plan.flood_stock))
    # Profiled for about as long as the backlog takes to settle (some 6,000 a second here).
    with ctx.profiled("coupon.backlog", ["coupon-issuer"], max(2.0, min(10.0, len(asks) / 6_000))):
        watch = Watch(ctx, backlog_coupon)
        produced = asyncio.run(_produce(ctx, backlog_coupon, asks))
        backlog = watch.result(produced)
    backlog["produced_in"] = _produced_in.get(backlog_coupon, math.nan)
    asyncio.run(_invariants(ctx, "backlog", backlog_coupon, plan.flood_stock, produced))

    # 3. The flood again at half its rate (every ask once, in the same order), for the latencies.
    coupon2 = asyncio.run(_new_coupon(ctx, "Bench flood (constant rate)", plan.flood_stock))
    seconds = min(len(asks) / max(1.0, flood.rps / 2), 90 if not plan.quick else 20)
    watch = Watch(ctx, coupon2)
    paced, rate, half = ctx.constant_rate(requests(coupon2, asks), flood.rps, seconds=seconds)
    reservations2 = paced.answers.statuses.get(202, 0)
    settle2 = watch.result(reservations2)
    asyncio.run(_invariants(ctx, "flood at half rate", coupon2, plan.flood_stock, reservations2))

    ctx.record(
        "coupon.flood",
        {
            "wrk": flood.as_dict(),
            "settle": settle,
            "backlog": backlog,
            "pgbench_hot_row": hot_row.as_dict(),
            "constant_rate": paced.as_dict(),
            "settle_constant_rate": settle2,
        },
    )
    statuses = flood.answers.statuses
    ctx.add(
        Line(
            "coupon.flood",
            f"coupon flood: {plan.flood_users:,} users +{plan.repeat_share:.0%}, stock {plan.flood_stock:,}",
            "coupon",
            rate=flood.rps,
            baseline="health.coupon",
            latency=paced.latency("req"),
            latency_rate=rate,
            half_rate=half,
            lag_p99=paced.lag_p99,
            errors=merge_errors(flood.answers.errors([SOLD_OUT]), paced.answers.errors([SOLD_OUT])),
            note=(
                f"{flood.requests:,} answers in {flood.seconds:.1f} s: 202 x{statuses.get(202, 0):,}, "
                f"200 x{statuses.get(200, 0):,}, 409 sold out x{statuses.get(409, 0):,}"
            ),
        )
    )
    ctx.add(
        Line(
            "pgbench.hot_row",
            f"pgbench: single hot-row UPDATE ({hot_row.clients} clients)",
            "database",
            rate=hot_row.tps,
            unit="tx/s",
            errors={"failed": hot_row.failed} if hot_row.failed else {},
        )
    )
    ctx.add(
        Line(
            "coupon.settle",
            "coupon flood: reservations settled",
            "coupon",
            rate=settle.get("rate"),
            unit="settled/s",
            baseline="pgbench.hot_row",
            note=(
                f"every reservation final {settle.get('final_after') or math.nan:.1f} s after the flood "
                f"began, {_relative(settle.get('after_flood'))} its last answer; as fast as "
                f"the 202s came (max consumer lag {settle.get('max_lag', 0):,.0f}); "
                f"issued {settle.get('issued_rate', 0):,.0f}/s"
            ),
            skipped=None if settle.get("rate") else "no reservation settled",
        )
    )
    ctx.add(
        Line(
            "coupon.capacity",
            f"coupon settling capacity: backlog of {produced:,}",
            "coupon",
            rate=backlog.get("rate"),
            unit="settled/s",
            baseline="pgbench.hot_row",
            target=2.0,
            note=(
                f"{produced:,} requests put on the topic in "
                f"{backlog.get('produced_in', math.nan):.1f} s; "
                f"all final {backlog.get('final_after') or math.nan:.1f} s after the first was put; "
                f"fastest second {backlog.get('peak_rate', 0):,.0f}/s; "
                f"max consumer lag {backlog.get('max_lag', 0):,.0f}"
            ),
            skipped=None if backlog.get("rate") else "no reservation settled",
        )
    )
    client.close()


def _warm_up(ctx: Context, users: int) -> None:
    """The 202 path for a moment on a coupon of its own, its reservations settled, numbers dropped,
    as the baselines are warmed up (`wrk.warm_up`): with a broker just started (a clean machine's
    make bench starts one), the first seconds of publishing run its produce path cold, and the
    broker takes CPU the measured line would otherwise have. Other users than the measured ones:
    no token the line presents is known to the service before it."""
    tokens = ctx.out / "warm-up-tokens.txt"
    data.write_tokens(tokens, ctx.stack.jwt_secret, data.warm_up_users(users))
    coupon = asyncio.run(_new_coupon(ctx, "Bench 202 path (warm-up)", 10_000_000))
    watch = Watch(ctx, coupon)
    warm = wrk.run(
        ctx.stack.gateway_url,
        seconds=5,
        method="POST",
        path=f"/api/v1/coupons/{coupon}/issue",
        tokens_file=tokens,
        connections=ctx.plan.connections,
    )
    watch.result(warm.answers.statuses.get(202, 0))


def _relative(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "? s from"
    return f"{abs(seconds):.1f} s {'after' if seconds >= 0 else 'before'}"


async def _produce(ctx: Context, coupon_id: int, users: list[int]) -> int:
    """One CouponIssueRequested per ask on the suite's coupon-issue topic, keyed by the coupon (the
    API's publish, without the API): returns how many."""
    from aiokafka import AIOKafkaProducer

    from commerce_contracts import encode_event
    from commerce_contracts.events.coupon_issue import CouponIssueRequested
    from commerce_contracts.registry import COUPON_ISSUE

    topic = ctx.stack.env.get("TOPIC_PREFIX", "") + COUPON_ISSUE.name
    producer = AIOKafkaProducer(
        bootstrap_servers=ctx.stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        linger_ms=5,
        max_batch_size=1 << 20,
    )
    await producer.start()
    started = time.monotonic()
    try:
        now = datetime.now(UTC)
        key = str(coupon_id).encode()
        sent = [
            await producer.send(
                topic,
                encode_event(
                    CouponIssueRequested(
                        reservation_id=f"{coupon_id}.{user}.bench{i}",
                        user_id=user,
                        coupon_id=coupon_id,
                        requested_at=now,
                    )
                ),
                key=key,
            )
            for i, user in enumerate(users)
        ]
        await producer.flush()
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    _produced_in[coupon_id] = time.monotonic() - started
    return len(users)


_produced_in: dict[int, float] = {}


async def _new_coupon(ctx: Context, name: str, quantity: int) -> int:
    async with httpx.AsyncClient(base_url=ctx.stack.gateway_url, timeout=30) as http:
        return await data.Api(ctx.stack, http).new_coupon(name, quantity)


async def _issuer_metrics(http: httpx.AsyncClient, metrics_url: str) -> tuple[float | None, float | None]:
    """From the coupon issuer's /metrics: the reservations it has settled (all coupons, since it
    started) and the coupon-issue consumer's lag (all partitions); None for what it did not say."""
    try:
        text = (await http.get(metrics_url, timeout=2)).text
    except httpx.HTTPError:
        return None, None
    settled = lag = None
    for line in text.splitlines():
        if line.startswith("coupon_issue_settled_total{"):
            settled = (settled or 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("kafka_consumer_lag{") and "coupon-issue" in line and ".dlt" not in line:
            lag = (lag or 0.0) + float(line.rsplit(" ", 1)[1])
    return settled, lag


class Watch:
    """Samples a coupon's settling (and the consumer's lag) in a thread of its own from the moment
    the requests start, until the number of reservations to wait for is known and reached."""

    def __init__(self, ctx: Context, coupon_id: int) -> None:
        self.started = time.time()
        self.target: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._future = self._pool.submit(
            asyncio.run, _settle(ctx, coupon_id, lambda: self.target, self.started)
        )

    def result(self, reservations: int) -> dict[str, Any]:
        self.target = reservations
        try:
            return self._future.result()
        finally:
            self._pool.shutdown()


async def _settle(
    ctx: Context, coupon_id: int, target: Callable[[], int | None], started: float, limit: float = 180
) -> dict[str, Any]:
    """Wait until every accepted reservation of the coupon is final (a row in coupons.issue_requests;
    `target()` says how many once the requests are done, then at most `limit` seconds more),
    sampling the progress and the consumer's lag. Returns the settling figures.

    The progress comes from the issuer's settled counter, read with the lag five times a second.
    The coupon's rows are counted only when the counter says they should all be there: nothing in
    the service asks issue_requests by coupon, so it has no such index, and counting them at every
    sample would scan the table (a cost that grows from line to line), CPU the bench would take
    from the suite while measuring it. The figures come from the rows."""
    progress: list[tuple[float, int, float | None]] = []
    reservations = 0
    conn = await asyncpg.connect(ctx.stack.database_url)
    metrics = f"{ctx.stack.service_url('coupon-issuer')}/metrics"
    before: float | None = None
    try:
        async with httpx.AsyncClient() as http:
            deadline: float | None = None
            while True:
                counted, lag = await _issuer_metrics(http, metrics)
                before = counted if before is None else before
                row = None
                if counted is None or before is None:  # no counter to go by: the rows, each time
                    row = await _settled_rows(conn, coupon_id)
                settled = row["n"] if row is not None else int(counted - before)  # type: ignore[operator]
                progress.append((time.time() - started, settled, lag))
                wanted = target()
                if wanted is not None:
                    reservations = wanted
                    deadline = deadline or time.time() + limit
                    if settled >= reservations or time.time() > deadline:
                        if row is None:
                            row = await _settled_rows(conn, coupon_id)
                        if row["n"] >= reservations or time.time() > deadline:
                            break
                await asyncio.sleep(0.2)
        issued = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM min(issued_at)) AS first,"
            " extract(epoch FROM max(issued_at)) AS last FROM coupons.user_coupons WHERE coupon_id = $1",
            coupon_id,
        )
    finally:
        await conn.close()
    n, first, last = row["n"], row["first"], row["last"]
    span = float(last - first) if n > 1 else 0.0
    issued_span = float(issued["last"] - issued["first"]) if issued["n"] > 1 else 0.0
    lags = [lag for _, _, lag in progress if lag is not None]
    peak = 0.0  # the fastest second of settling: the consumer's pace while it had a backlog
    for i, (t0, n0, _) in enumerate(progress):
        later = next(((t, m) for t, m, _ in progress[i + 1 :] if t - t0 >= 1.0), None)
        if later:
            peak = max(peak, (later[1] - n0) / (later[0] - t0))
    return {
        "peak_rate": peak,
        "reservations": reservations,
        "settled": n,
        "complete": n >= reservations,
        "rate": n / span if span > 0 else None,
        "issued": issued["n"],
        "issued_rate": issued["n"] / issued_span if issued_span > 0 else 0.0,
        "final_at": float(last) if last else None,
        "final_after": float(last) - started if last else None,
        "max_lag": max(lags) if lags else 0.0,
        "progress": progress,
    }


async def _settled_rows(conn: asyncpg.Connection, coupon_id: int) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT count(*) AS n, extract(epoch FROM min(settled_at)) AS first,"
        " extract(epoch FROM max(settled_at)) AS last"
        " FROM coupons.issue_requests WHERE coupon_id = $1",
        coupon_id,
    )


async def _invariants(ctx: Context, label: str, coupon_id: int, stock: int, reservations: int) -> None:
    """SPEC.md section 3's invariants, checked in the coupon service's tables and Redis (the bench is
    an observer, as the integration tests are)."""
    conn = await asyncpg.connect(ctx.stack.database_url)
    try:
        final = await conn.fetchval(
            "SELECT count(*) FROM coupons.issue_requests WHERE coupon_id = $1", coupon_id
        )
        issued, holders = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT user_id) FROM coupons.user_coupons WHERE coupon_id = $1",
            coupon_id,
        )
        remaining = await conn.fetchval("SELECT remaining FROM coupons.coupons WHERE id = $1", coupon_id)
        issued_outcomes = await conn.fetchval(
            "SELECT count(*) FROM coupons.issue_requests WHERE coupon_id = $1 AND status = 'ISSUED'",
            coupon_id,
        )
    finally:
        await conn.close()
    ctx.check(
        f"coupon {label}: every reservation final", final == reservations, f"({final:,} of {reservations:,})"
    )
    ctx.check(
        f"coupon {label}: exactly the stock issued", issued == stock, f"({issued:,} issued, stock {stock:,})"
    )
    ctx.check(f"coupon {label}: nobody holds two copies", holders == issued, f"({holders:,} holders)")
    ctx.check(f"coupon {label}: remaining 0", remaining == 0, f"(remaining {remaining})")
    ctx.check(
        f"coupon {label}: the reservations say the same",
        issued_outcomes == issued,
        f"({issued_outcomes:,} ISSUED outcomes)",
    )
    # The Redis counter: 0 once every unit is settled (the reconciler corrects it within its period).
    redis = aioredis.from_url(ctx.stack.redis_url)
    key = f"coupon:{{{coupon_id}}}:stock"
    value = None
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            value = await redis.get(key)
            if value == b"0":
                break
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()
    ctx.check(f"coupon {label}: Redis counter 0", value == b"0", f"({key} = {value!r})")
