"""SQL of the sales, the per-day counters and the names (adapters/batch.py has the rebuild's).
Functions take a connection so that the use case decides the transaction; none of them commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

import asyncpg

from ranking_service.domain.calendar import Window
from ranking_service.domain.ranking import ProductTotal
from ranking_service.domain.sales import Line, Sale


class Source(StrEnum):
    PAYMENT = "PAYMENT"  # payment-completed
    REFUND = "REFUND"  # payment-refunded, before its sale
    BACKFILL = "BACKFILL"  # the order service's paid orders


_SALE_COLUMNS = "payment_id, order_id, user_id, paid_at, refunded_at, product_ids, quantities"


def _sale(row: asyncpg.Record) -> Sale:
    lines = tuple(Line(p, q) for p, q in zip(row["product_ids"], row["quantities"], strict=True))
    return Sale(row["payment_id"], row["order_id"], row["user_id"], row["paid_at"], lines, row["refunded_at"])


# --- sales ----------------------------------------------------------------------------------------


async def insert_sales(conn: asyncpg.Connection, sales: Sequence[Sale], source: Source) -> set[int]:
    """Many sales in one statement, in payment id order (so that two batches never wait on each
    other in a cycle); returns the payment ids that were new (the others were recorded already: a
    redelivery, or their refund came first)."""
    rows = [
        {
            "payment_id": s.payment_id,
            "order_id": s.order_id,
            "user_id": s.user_id,
            "paid_at": s.paid_at.isoformat(),
            "refunded_at": s.refunded_at.isoformat() if s.refunded_at else None,
            "product_ids": [p for p, _ in s.quantities()],
            "quantities": [q for _, q in s.quantities()],
        }
        for s in sales
    ]
    new = await conn.fetch(
        f"""
        INSERT INTO sales ({_SALE_COLUMNS}, source)
        SELECT DISTINCT ON (payment_id) {_SALE_COLUMNS}, $2
        FROM jsonb_to_recordset($1::jsonb) AS x(
            payment_id bigint, order_id bigint, user_id bigint, paid_at timestamptz,
            refunded_at timestamptz, product_ids bigint[], quantities int[])
        ORDER BY payment_id
        ON CONFLICT (payment_id) DO NOTHING
        RETURNING payment_id
        """,
        rows,
        source.value,
    )
    return {row["payment_id"] for row in new}


async def mark_refunded(conn: asyncpg.Connection, payment_id: int, refunded_at: datetime) -> Sale | None:
    """The stored sale, now refunded; None when it already was (a redelivered refund)."""
    row = await conn.fetchrow(
        f"""
        UPDATE sales SET refunded_at = $2 WHERE payment_id = $1 AND refunded_at IS NULL
        RETURNING {_SALE_COLUMNS}
        """,
        payment_id,
        refunded_at,
    )
    return None if row is None else _sale(row)


async def has_sales(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM sales)"))


# --- per-day counts and names ---------------------------------------------------------------------


async def add_counts(conn: asyncpg.Connection, day: date, deltas: Sequence[tuple[int, int]]) -> None:
    """Add (product, delta) to `day`'s counters, in the given order (product id order: the row locks
    are taken in that order, so concurrent sales cannot deadlock on them)."""
    await conn.execute(
        """
        INSERT INTO product_day_sales AS d (day, product_id, quantity)
        SELECT $1, t.product_id, t.delta
        FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(product_id, delta, n)
        ORDER BY t.n
        ON CONFLICT (day, product_id) DO UPDATE SET quantity = d.quantity + excluded.quantity
        """,
        day,
        [p for p, _ in deltas],
        [d for _, d in deltas],
    )


async def save_names(conn: asyncpg.Connection, names: Sequence[tuple[int, str, datetime]]) -> None:
    """(product, name, paid at): keep the name of the latest sale per product."""
    if not names:
        return
    await conn.execute(
        """
        INSERT INTO product_names AS n (product_id, name, named_at)
        SELECT t.p, t.nm, t.at
        FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS t(p, nm, at, k)
        ORDER BY t.k
        ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, named_at = excluded.named_at
        WHERE n.named_at < excluded.named_at
        """,
        [p for p, _, _ in names],
        [n for _, n, _ in names],
        [at for _, _, at in names],
    )


async def top_products(conn: asyncpg.Connection, window: Window, limit: int) -> list[ProductTotal]:
    """The window's best sellers, in the ranking's order (domain.ranking: sold desc, product id asc).
    Reads only the per-day counters of the window (at most 30 days), never the sales."""
    rows = await conn.fetch(
        """
        WITH totals AS (
            SELECT product_id, sum(quantity)::bigint AS sold
            FROM product_day_sales
            WHERE day BETWEEN $1 AND $2
            GROUP BY product_id
            HAVING sum(quantity) > 0
            ORDER BY sold DESC, product_id
            LIMIT $3)
        SELECT t.product_id, t.sold, n.name
        FROM totals t LEFT JOIN product_names n USING (product_id)
        ORDER BY t.sold DESC, t.product_id
        """,
        window.first,
        window.last,
        limit,
    )
    return [ProductTotal(r["product_id"], r["sold"], r["name"]) for r in rows]
