"""Order + payment (SPEC.md sections 4 and 5): each flow places an order of one line (the buyer's
coupon on their first order) and pays it with an Idempotency-Key, through the gateway. Two variants:
many buyers over many options, and the hot option (everyone buys the same option, so every saga
queues on one row lock in the catalog). Each gets a ceiling (closed loop) in paid/s and latencies at
half of it (open model), and is compared with pgbench running the same flows' SQL, the order's
and the payment's (sql/payment.sql), in the same run. Afterwards the money and stock invariants of
tests/e2e/test_payments.py are checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from bench import loadgen, pgbench
from bench.data import Buyer, Product
from bench.report.table import Line
from bench.scenarios.common import Context


def _flow(
    client: loadgen.Client, buyers: list[Buyer], choose: Callable[[int], tuple[int, int]]
) -> loadgen.Flow:
    async def flow(i: int, due: float, samples: loadgen.Samples) -> None:
        buyer = buyers[i % len(buyers)]
        coupon = buyer.coupons.pop() if buyer.coupons else None
        product_id, option_id = choose(i)
        order: dict[str, Any] = {"items": [{"productId": product_id, "optionId": option_id, "quantity": 1}]}
        if coupon is not None:
            order["userCouponId"] = coupon
        auth = {"Authorization": f"Bearer {buyer.token}", "Content-Type": "application/json"}
        sent = loadgen.clock()
        placed = await loadgen.timed(
            client, client.build("POST", "/api/v1/orders", auth, orjson.dumps(order)), samples, "order", sent
        )
        if placed is None or placed[0] != 201:
            samples.count(_why("order", placed))
            if coupon is not None:
                buyer.coupons.append(coupon)
            return
        order_id = orjson.loads(placed[1])["orderId"]
        sent = loadgen.clock()
        paid = await loadgen.timed(
            client,
            client.build(
                "POST",
                "/api/v1/payments",
                auth | {"Idempotency-Key": f"bench-{order_id}"},
                orjson.dumps({"orderId": order_id}),
            ),
            samples,
            "payment",
            sent,
        )
        if paid is None or paid[0] != 201:
            samples.count(_why("payment", paid))
            return
        now = loadgen.clock()
        samples.record("flow", (now - due) * 1000, now)
        samples.count("paid")
        if coupon is not None:
            samples.count("paid with a coupon")

    return flow


def _why(step: str, answer: tuple[int, bytes] | None) -> str:
    if answer is None:
        return f"{step}: no answer"
    try:
        code = orjson.loads(answer[1]).get("code", "")
    except orjson.JSONDecodeError:
        code = ""
    return f"{step}: {answer[0]} {code}".strip()


def _variant(
    ctx: Context, key: str, buyers: list[Buyer], choose: Callable[[int], tuple[int, int]]
) -> dict[str, Any]:
    plan = ctx.plan

    async def ceiling() -> loadgen.Samples:
        client = loadgen.Client(ctx.stack.gateway_url)
        try:
            return await loadgen.closed_loop(
                _flow(client, buyers, choose), concurrency=plan.payment_concurrency, seconds=plan.wrk_seconds
            )
        finally:
            client.close()

    with ctx.profiled(key, ["payment", "catalog", "order", "user", "coupon"], plan.wrk_seconds):
        top = loadgen.run(ceiling())
    paid_rate = top.outcomes.get("paid", 0) / top.seconds

    async def paced() -> loadgen.Samples:
        client = loadgen.Client(ctx.stack.gateway_url)
        try:
            return await loadgen.open_model(
                _flow(client, buyers, choose),
                rate=max(1.0, paid_rate / 2),
                seconds=plan.rate_seconds,
                drain=30,
            )
        finally:
            client.close()

    half = loadgen.run(paced())
    return {"ceiling": top, "half": half, "paid_rate": paid_rate}


def run(ctx: Context) -> None:
    buyers: list[Buyer] = ctx.state["buyers"]
    products: list[Product] = ctx.state["payment_products"]
    hot: Product = ctx.state["hot_product"]
    options = [(p.id, o) for p in products for o in p.option_ids]
    results = {}
    results["payment.many"] = _variant(
        ctx, "payment.many", buyers, lambda i: options[(i * 7919) % len(options)]
    )
    results["payment.hot"] = _variant(ctx, "payment.hot", buyers, lambda i: (hot.id, hot.option_ids[0]))

    paid = sum(r[k].outcomes.get("paid", 0) for r in results.values() for k in ("ceiling", "half"))
    with_coupon = sum(
        r[k].outcomes.get("paid with a coupon", 0) for r in results.values() for k in ("ceiling", "half")
    )
    coupon_pct = round(100 * with_coupon / paid) if paid else 0
    starts = {o: p.stock for p in [*products, hot] for o in p.option_ids}
    asyncio.run(_invariants(ctx, [b.user_id for b in buyers], starts))

    seconds = ctx.plan.pgbench_seconds
    rows = max(20_000, int(paid * 4))
    base_many = pgbench.payment(
        ctx.stack.database_url,
        seconds=seconds,
        users=len(buyers),
        options=len(options),
        coupon_pct=coupon_pct,
        rows=rows,
        name="pgbench: one order + payment's SQL (many options)",
    )
    base_hot = pgbench.payment(
        ctx.stack.database_url,
        seconds=seconds,
        users=len(buyers),
        options=1,
        coupon_pct=coupon_pct,
        rows=rows,
        name="pgbench: one order + payment's SQL (one option)",
    )
    for base, key in ((base_many, "pgbench.payment"), (base_hot, "pgbench.payment_hot")):
        ctx.add(
            Line(
                key,
                f"{base.name}, {base.clients} clients",
                "database",
                rate=base.tps,
                unit="tx/s",
                errors={"failed": base.failed} if base.failed else {},
            )
        )
    names = {
        "payment.many": ("order + payment: many buyers and options", "pgbench.payment"),
        "payment.hot": ("order + payment: hot option (all buy one)", "pgbench.payment_hot"),
    }
    for key, r in results.items():
        top, half = r["ceiling"], r["half"]
        failures = {
            k: v
            for s in (top, half)
            for k, v in s.outcomes.items()
            if k not in ("paid", "paid with a coupon")
        }
        name, baseline = names[key]
        pay = half.latency("payment")
        ctx.record(
            key,
            {
                "ceiling": top.as_dict(),
                "half": half.as_dict(),
                "coupon_pct": coupon_pct,
                "pgbench": (base_many if key == "payment.many" else base_hot).as_dict(),
            },
        )
        ctx.add(
            Line(
                key,
                name,
                "payment",
                rate=r["paid_rate"],
                unit="paid/s",
                baseline=baseline,
                target=0.2,
                latency=half.latency("flow"),
                latency_rate=half.rate,
                half_rate=True,
                lag_p99=half.lag_p99,
                errors={**top.answers.errors(), **{k: v for k, v in half.answers.errors().items()}}
                | failures,
                note=(
                    f"latency = order + payment from its due time; POST /payments alone p50 {pay.p50:.0f} / "
                    f"p99 {pay.p99:.0f} ms; {coupon_pct}% with a coupon; closed loop of "
                    f"{ctx.plan.payment_concurrency} buyers for the ceiling"
                ),
            )
        )


async def _invariants(ctx: Context, users: list[int], starts: dict[int, int]) -> None:
    """tests/e2e/test_payments.py::assert_money_and_stock_hold, over the bench's buyers and options."""
    conn = await asyncpg.connect(ctx.stack.database_url)
    try:
        deadline = time.time() + 120
        while True:
            open_sagas = await conn.fetchval(
                "SELECT count(*) FROM payments.payments WHERE user_id = ANY($1::bigint[])"
                " AND status NOT IN ('COMPLETED', 'FAILED', 'REFUNDED')",
                users,
            )
            if open_sagas == 0 or time.time() > deadline:
                break
            await asyncio.sleep(0.5)
        ctx.check("payments: no saga left unfinished", open_sagas == 0, f"({open_sagas} not final)")
        charged = int(
            await conn.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM users.wallet_transactions WHERE type = 'CHARGE'"
                " AND user_id = ANY($1::bigint[])",
                users,
            )
        )
        balances = int(
            await conn.fetchval(
                "SELECT coalesce(sum(balance), 0) FROM users.wallets WHERE user_id = ANY($1::bigint[])", users
            )
        )
        paid = int(
            await conn.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM payments.payments WHERE user_id = ANY($1::bigint[])"
                " AND status IN ('COMPLETED', 'REFUNDED')",
                users,
            )
        )
        refunded = int(
            await conn.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM payments.payments WHERE user_id = ANY($1::bigint[])"
                " AND status = 'REFUNDED'",
                users,
            )
        )
        ctx.check(
            "payments: money conserved (charges = balances + payments - refunds)",
            charged == balances + paid - refunded,
            f"({charged:,} = {balances:,} + {paid:,} - {refunded:,})",
        )
        stock = dict(
            await conn.fetch(
                "SELECT id, stock FROM catalog.options WHERE id = ANY($1::bigint[])", list(starts)
            )
        )
        in_paid = dict(
            await conn.fetch(
                "SELECT l.option_id, sum(l.quantity) FROM orders.order_lines l"
                " JOIN orders.orders o ON o.id = l.order_id"
                " WHERE o.status = 'PAID' AND l.option_id = ANY($1::bigint[]) GROUP BY l.option_id",
                list(starts),
            )
        )
        wrong = [o for o, s in starts.items() if s - stock[o] != in_paid.get(o, 0) or stock[o] < 0]
        ctx.check(
            "payments: stock taken = stock in paid orders, never negative",
            not wrong,
            f"({len(wrong)} options off)",
        )
        unpaid = await conn.fetchval(
            "SELECT count(*) FROM orders.orders o"
            " WHERE o.status IN ('PAID', 'REFUNDED') AND o.user_id = ANY($1::bigint[])"
            " AND NOT EXISTS (SELECT FROM payments.payments p WHERE p.id = o.payment_id"
            " AND p.status IN ('COMPLETED', 'REFUNDED'))",
            users,
        )
        ctx.check("payments: every paid order has its completed payment", unpaid == 0, f"({unpaid} without)")
    finally:
        await conn.close()
