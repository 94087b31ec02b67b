"""SQL for the orders schema. Functions take a connection so that the use case decides the
transaction; none of them commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from order_service.domain.errors import InvalidOrderState
from order_service.domain.order import (
    AppliedCoupon,
    CouponTerms,
    DiscountType,
    Order,
    OrderLine,
    OrderStatus,
)
from order_service.domain.placing import OrderDraft

_ORDER_COLUMNS = """
    id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id,
    coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id,
    payment_id, created_at, paid_at, refunded_at
"""

#: The column each target status stamps with the time of the move.
_STAMPS = {
    OrderStatus.PAID: "paid_at",
    OrderStatus.CANCELLED: "cancelled_at",
    OrderStatus.EXPIRED: "expired_at",
    OrderStatus.REFUNDED: "refunded_at",
}


async def insert_order(conn: asyncpg.Connection, draft: OrderDraft) -> Order:
    """The order and its lines, in one statement (one round trip)."""
    coupon = draft.coupon
    terms = coupon.terms if coupon else None
    lines = draft.lines
    row = await conn.fetchrow(
        f"""
        WITH placed AS (
            INSERT INTO orders (user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id,
                coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount,
                coupon_target_product_id)
            VALUES ($1, 'PENDING_PAYMENT', $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING {_ORDER_COLUMNS}),
        lined AS (
            INSERT INTO order_lines (order_id, line_no, product_id, option_id, product_name, option_name,
                unit_price, quantity, line_amount)
            SELECT placed.id, l.n, l.product_id, l.option_id, l.product_name, l.option_name, l.unit_price,
                l.quantity, l.line_amount
            FROM placed, unnest($11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::bigint[],
                $16::int[], $17::bigint[]) WITH ORDINALITY
                AS l (product_id, option_id, product_name, option_name, unit_price, quantity, line_amount, n))
        SELECT * FROM placed
        """,
        draft.user_id,
        draft.total_amount,
        draft.discount_amount,
        draft.pay_amount,
        coupon.user_coupon_id if coupon else None,
        coupon.coupon_id if coupon else None,
        terms.discount_type.value if terms else None,
        terms.discount_value if terms else None,
        terms.max_discount_amount if terms else None,
        terms.target_product_id if terms else None,
        [line.product_id for line in lines],
        [line.option_id for line in lines],
        [line.product_name for line in lines],
        [line.option_name for line in lines],
        [line.unit_price for line in lines],
        [line.quantity for line in lines],
        [line.line_amount for line in lines],
    )
    return _order(row, lines)


async def order(conn: asyncpg.Connection, order_id: int, *, lock: bool = False) -> Order | None:
    """The order with its lines, in one statement (`lock`: the order's row, FOR UPDATE)."""
    row = await conn.fetchrow(
        f"""
        SELECT {_ORDER_COLUMNS}, (
            SELECT jsonb_agg(jsonb_build_array(product_id, option_id, product_name, option_name,
                unit_price, quantity) ORDER BY line_no)
            FROM order_lines WHERE order_id = orders.id) AS lines
        FROM orders WHERE id = $1
        """
        + (" FOR UPDATE OF orders" if lock else ""),
        order_id,
    )
    if row is None:
        return None
    return _order(row, tuple(OrderLine(*line) for line in row["lines"] or ()))


async def payments_of(
    conn: asyncpg.Connection, order_ids: Sequence[int]
) -> dict[int, tuple[OrderStatus, int | None]]:
    """The orders' statuses and the payments that paid them, by order id (one small read: no lines);
    an order that does not exist is not in it."""
    rows = await conn.fetch(
        "SELECT id, status, payment_id FROM orders WHERE id = ANY($1::bigint[])", list(order_ids)
    )
    return {row["id"]: (OrderStatus(row["status"]), row["payment_id"]) for row in rows}


async def orders_of(conn: asyncpg.Connection, user_id: int, before_id: int | None, limit: int) -> list[Order]:
    """The user's orders, newest first (ids grow with time), below `before_id` when given."""
    rows = await conn.fetch(
        f"""
        SELECT {_ORDER_COLUMNS} FROM orders
        WHERE user_id = $1 AND id < $2
        ORDER BY id DESC
        LIMIT $3
        """,
        user_id,
        # The first page reads below the largest id: one plan for every page (an `IS NULL OR` would
        # give PostgreSQL's generic plan a filter instead of an index bound).
        2**63 - 1 if before_id is None else before_id,
        limit,
    )
    lines = await _lines(conn, [r["id"] for r in rows])
    return [_order(r, lines[r["id"]]) for r in rows]


async def paid_orders(conn: asyncpg.Connection, after_id: int, limit: int) -> list[Order]:
    """Paid and refunded orders with ids above `after_id`, oldest first."""
    rows = await conn.fetch(
        f"""
        SELECT {_ORDER_COLUMNS} FROM orders
        WHERE status IN ('PAID', 'REFUNDED') AND id > $1
        ORDER BY id
        LIMIT $2
        """,
        after_id,
        limit,
    )
    lines = await _lines(conn, [r["id"] for r in rows])
    return [_order(r, lines[r["id"]]) for r in rows]


async def move(
    conn: asyncpg.Connection,
    moved: Order,
    came_from: OrderStatus,
    *,
    at: datetime | None = None,
) -> datetime:
    """Write a move the domain allowed; guarded on the status it came from as well (the caller holds
    the row lock, so that never misses), and on its payment having paid no other order (which the
    unique index also refuses, but as an error that would abort the caller's transaction). Returns
    the time stamped on the move: `at`, or the database's now."""
    stamp = _STAMPS[moved.status]
    stamped = await conn.fetchval(
        f"""
        UPDATE orders SET status = $3, payment_id = $4, {stamp} = coalesce($5, now()), updated_at = now()
        WHERE id = $1 AND status = $2
          AND NOT EXISTS (SELECT FROM orders other WHERE other.payment_id = $4 AND other.id <> $1)
        RETURNING {stamp}
        """,
        moved.id,
        came_from.value,
        moved.status.value,
        moved.payment_id,
        at,
    )
    if stamped is None:
        raise InvalidOrderState(f"Payment {moved.payment_id} already paid another order")
    return stamped


async def unpaid_since(conn: asyncpg.Connection, minutes: int, limit: int) -> list[Order]:
    """Up to `limit` orders left unpaid for more than `minutes` (by the database's clock, the one
    clock every instance shares), oldest first, locked. Rows another transaction holds (a payment
    marking the order paid, its owner cancelling it) are skipped, not waited for: that transaction
    decides the order's fate, and an order still unpaid afterwards is found by the next run."""
    rows = await conn.fetch(
        f"""
        SELECT {_ORDER_COLUMNS} FROM orders
        WHERE status = 'PENDING_PAYMENT' AND created_at < now() - make_interval(mins => $1)
        ORDER BY created_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        minutes,
        limit,
    )
    lines = await _lines(conn, [r["id"] for r in rows])
    return [_order(r, lines[r["id"]]) for r in rows]


async def move_all(
    conn: asyncpg.Connection, moved: Sequence[Order], came_from: OrderStatus
) -> dict[int, datetime]:
    """`move` for many orders going to one status (payment ids unchanged); the caller holds their
    row locks. Returns each order's stamp."""
    if not moved:
        return {}
    to = {o.status for o in moved}
    assert len(to) == 1, "one target status at a time"
    status = to.pop()
    stamp = _STAMPS[status]
    rows = await conn.fetch(
        f"""
        UPDATE orders SET status = $3, {stamp} = now(), updated_at = now()
        WHERE id = ANY($1::bigint[]) AND status = $2
        RETURNING id, {stamp} AS stamped
        """,
        [o.id for o in moved],
        came_from.value,
        status.value,
    )
    if len(rows) != len(moved):
        raise AssertionError(f"some orders were not {came_from.value} under their row locks")
    return {r["id"]: r["stamped"] for r in rows}


async def _lines(conn: asyncpg.Connection, order_ids: Sequence[int]) -> dict[int, tuple[OrderLine, ...]]:
    found: dict[int, list[OrderLine]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return {}
    rows = await conn.fetch(
        """
        SELECT order_id, product_id, option_id, product_name, option_name, unit_price, quantity
        FROM order_lines WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, line_no
        """,
        list(order_ids),
    )
    for r in rows:
        found[r["order_id"]].append(
            OrderLine(
                r["product_id"],
                r["option_id"],
                r["product_name"],
                r["option_name"],
                r["unit_price"],
                r["quantity"],
            )
        )
    return {order_id: tuple(lines) for order_id, lines in found.items()}


def _order(row: asyncpg.Record, lines: tuple[OrderLine, ...]) -> Order:
    coupon = None
    if row["user_coupon_id"] is not None:
        coupon = AppliedCoupon(
            user_coupon_id=row["user_coupon_id"],
            coupon_id=row["coupon_id"],
            terms=CouponTerms(
                DiscountType(row["coupon_discount_type"]),
                row["coupon_discount_value"],
                row["coupon_max_discount_amount"],
                row["coupon_target_product_id"],
            ),
        )
    return Order(
        id=row["id"],
        user_id=row["user_id"],
        status=OrderStatus(row["status"]),
        lines=lines,
        total_amount=row["total_amount"],
        discount_amount=row["discount_amount"],
        pay_amount=row["pay_amount"],
        coupon=coupon,
        payment_id=row["payment_id"],
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        refunded_at=row["refunded_at"],
    )
