"""The payment saga's invariants (SPEC.md section 5), checked in the services' own tables by an
observer: shared by the end-to-end tests (tests/e2e/test_payments.py) and the fault tests
(tests/faults), which add the faults' own checks on top (tests/faults/invariants.py).

`suite` is anything with a `data_platform_url` (the data-platform stand-in's POST /payments URL);
`db` an asyncpg connection to the suite's database (every schema)."""

from __future__ import annotations

from typing import Any

import httpx

from commerce_kit.testing import eventually


async def deliveries(suite) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(suite.data_platform_url.replace("/payments", "/_deliveries"))
        return answer.json()


async def assert_money_and_stock_hold(db, suite, users: list[int], options: dict[int, int]) -> None:
    """`options`: option id -> the stock it started with."""

    # No saga is left non-final (the recovery worker finishes or undoes every one).
    async def all_final():
        return await db.fetchval(
            "SELECT count(*) = 0 FROM payments.payments WHERE user_id = ANY($1::bigint[])"
            " AND status NOT IN ('COMPLETED', 'FAILED', 'REFUNDED')",
            users,
        )

    await eventually(all_final, timeout=120, interval=0.5, what="every saga final")
    # Money: charges = balances + payments - refunds.
    charged = await db.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM users.wallet_transactions WHERE type = 'CHARGE'"
        " AND user_id = ANY($1::bigint[])",
        users,
    )
    balances = await db.fetchval(
        "SELECT coalesce(sum(balance), 0) FROM users.wallets WHERE user_id = ANY($1::bigint[])", users
    )
    paid = await db.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payments.payments WHERE user_id = ANY($1::bigint[])"
        " AND status IN ('COMPLETED', 'REFUNDED')",
        users,
    )
    refunded = await db.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payments.payments WHERE user_id = ANY($1::bigint[])"
        " AND status = 'REFUNDED'",
        users,
    )
    assert charged == balances + paid - refunded
    # Stock never negative, and what was taken is what paid (and not refunded) orders hold.
    stock = dict(
        await db.fetch("SELECT id, stock FROM catalog.options WHERE id = ANY($1::bigint[])", list(options))
    )
    assert all(s >= 0 for s in stock.values())
    in_paid_orders = dict(
        await db.fetch(
            "SELECT l.option_id, sum(l.quantity) FROM orders.order_lines l"
            " JOIN orders.orders o ON o.id = l.order_id"
            " WHERE o.status = 'PAID' AND l.option_id = ANY($1::bigint[]) GROUP BY l.option_id",
            list(options),
        )
    )
    for option, start in options.items():
        assert start - stock[option] == in_paid_orders.get(option, 0), option
    # An order is paid at most once, and by a completed payment.
    assert await db.fetchval(
        "SELECT count(*) = 0 FROM orders.orders o"
        " WHERE o.status IN ('PAID', 'REFUNDED') AND o.user_id = ANY($1::bigint[])"
        " AND NOT EXISTS (SELECT FROM payments.payments p"
        "                 WHERE p.id = o.payment_id AND p.status IN ('COMPLETED', 'REFUNDED'))",
        users,
    )

    # History rows match payments one to one (the consumers catch up within a bound).
    async def history_matches():
        rows = await db.fetch(
            "SELECT type, payment_id FROM users.wallet_transactions"
            " WHERE type <> 'CHARGE' AND user_id = ANY($1::bigint[])",
            users,
        )
        payments = await db.fetch(
            "SELECT id, status FROM payments.payments WHERE user_id = ANY($1::bigint[])"
            " AND status IN ('COMPLETED', 'REFUNDED')",
            users,
        )
        want = {("PAYMENT", p["id"]) for p in payments} | {
            ("REFUND", p["id"]) for p in payments if p["status"] == "REFUNDED"
        }
        return sorted((r["type"], r["payment_id"]) for r in rows) == sorted(want)

    await eventually(history_matches, timeout=60, interval=0.5, what="history rows = payments")
    # The data platform got every completed payment exactly once after deduplication.
    completed = {
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM payments.payments"
            " WHERE user_id = ANY($1::bigint[]) AND status IN ('COMPLETED', 'REFUNDED')",
            users,
        )
    }

    async def platform_has_them():
        got = {p["paymentId"] for p in (await deliveries(suite))["payments"]}
        return completed <= got

    await eventually(platform_has_them, timeout=60, interval=0.5, what="every payment at the data platform")
    counts = (await deliveries(suite))["payments"]
    assert len([p for p in counts if p["paymentId"] in completed]) == len(completed)  # unique after dedup
