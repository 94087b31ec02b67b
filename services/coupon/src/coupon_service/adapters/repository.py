"""SQL for the coupon schema. Functions take a connection so that the use case decides the
transaction; none of them commits."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from coupon_service.domain.payment_steps import PaymentStep, StepStatus
from coupon_service.domain.policy import CouponPolicy, DiscountType, Snapshot
from coupon_service.domain.user_coupon import CouponStatus, UserCoupon

_POLICY_COLUMNS = """name, discount_type, discount_value, max_discount_amount, target_product_id,
    total_quantity, valid_days, issue_start_at, issue_end_at"""


def policy_of(row: asyncpg.Record) -> CouponPolicy:
    return CouponPolicy(
        row["name"],
        DiscountType(row["discount_type"]),
        row["discount_value"],
        row["max_discount_amount"],
        row["target_product_id"],
        row["total_quantity"],
        row["valid_days"],
        row["issue_start_at"],
        row["issue_end_at"],
    )


# --- policies -----------------------------------------------------------------------------------


async def insert_coupon(conn: asyncpg.Connection, policy: CouponPolicy) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""
        INSERT INTO coupons ({_POLICY_COLUMNS}, remaining)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $6)
        RETURNING id, {_POLICY_COLUMNS}, remaining, created_at
        """,
        policy.name,
        policy.discount_type.value,
        policy.discount_value,
        policy.max_discount_amount,
        policy.target_product_id,
        policy.total_quantity,
        policy.valid_days,
        policy.issue_start_at,
        policy.issue_end_at,
    )


async def coupon(conn: asyncpg.Connection, coupon_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT id, {_POLICY_COLUMNS}, remaining, created_at FROM coupons WHERE id = $1", coupon_id
    )


async def coupon_exists(conn: asyncpg.Connection, coupon_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM coupons WHERE id = $1)", coupon_id))


async def any_coupon(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM coupons)"))


async def take_one(conn: asyncpg.Connection, coupon_id: int) -> CouponPolicy | None:
    """Takes one copy of the coupon's stock; None when none is left (or no such coupon). The row
    stays locked until the transaction ends, so the issues of one coupon queue here."""
    row = await conn.fetchrow(
        f"""
        UPDATE coupons SET remaining = remaining - 1
        WHERE id = $1 AND remaining > 0
        RETURNING {_POLICY_COLUMNS}
        """,
        coupon_id,
    )
    return None if row is None else policy_of(row)


# --- user coupons -------------------------------------------------------------------------------

_USER_COUPON_COLUMNS = """id, user_id, coupon_id, name, discount_type, discount_value,
    max_discount_amount, target_product_id, status, issued_at, expires_at, used_at,
    used_by_payment_id, order_id"""


def user_coupon_of(row: asyncpg.Record) -> UserCoupon:
    return UserCoupon(
        id=row["id"],
        user_id=row["user_id"],
        coupon_id=row["coupon_id"],
        terms=Snapshot(
            row["name"],
            DiscountType(row["discount_type"]),
            row["discount_value"],
            row["max_discount_amount"],
            row["target_product_id"],
        ),
        stored_status=CouponStatus(row["status"]),
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        used_by_payment_id=row["used_by_payment_id"],
        order_id=row["order_id"],
    )


async def insert_user_coupon(conn: asyncpg.Connection, copy: UserCoupon) -> int | None:
    """The new copy's id, or None when the user already holds a copy of this coupon."""
    terms = copy.terms
    return await conn.fetchval(
        """
        INSERT INTO user_coupons (user_id, coupon_id, name, discount_type, discount_value,
            max_discount_amount, target_product_id, status, issued_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (user_id, coupon_id) DO NOTHING
        RETURNING id
        """,
        copy.user_id,
        copy.coupon_id,
        terms.name,
        terms.discount_type.value,
        terms.discount_value,
        terms.max_discount_amount,
        terms.target_product_id,
        copy.stored_status.value,
        copy.issued_at,
        copy.expires_at,
    )


async def held_copy(conn: asyncpg.Connection, user_id: int, coupon_id: int) -> int | None:
    return await conn.fetchval(
        "SELECT id FROM user_coupons WHERE user_id = $1 AND coupon_id = $2", user_id, coupon_id
    )


async def user_coupon(
    conn: asyncpg.Connection, user_coupon_id: int, *, lock: bool = False
) -> UserCoupon | None:
    sql = f"SELECT {_USER_COUPON_COLUMNS} FROM user_coupons WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, user_coupon_id)
    return None if row is None else user_coupon_of(row)


async def user_coupons_of(
    conn: asyncpg.Connection,
    user_id: int,
    *,
    usable_at: datetime | None,
    before: tuple[datetime, int] | None,
    limit: int,
) -> list[UserCoupon]:
    """The user's copies, newest first; only those usable at `usable_at` when it is given."""
    rows = await conn.fetch(
        f"""
        SELECT {_USER_COUPON_COLUMNS} FROM user_coupons
        WHERE user_id = $1
          AND ($2::timestamptz IS NULL OR (status = 'ISSUED' AND expires_at > $2))
          AND ($3::timestamptz IS NULL OR (issued_at, id) < ($3, $4::bigint))
        ORDER BY issued_at DESC, id DESC
        LIMIT $5
        """,
        user_id,
        usable_at,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return [user_coupon_of(r) for r in rows]


async def save_use(conn: asyncpg.Connection, copy: UserCoupon) -> None:
    """Stores the copy's use state (used or restored)."""
    await conn.execute(
        """
        UPDATE user_coupons SET status = $2, used_at = $3, used_by_payment_id = $4, order_id = $5
        WHERE id = $1
        """,
        copy.id,
        copy.stored_status.value,
        copy.used_at,
        copy.used_by_payment_id,
        copy.order_id,
    )


# --- the payment saga's steps -------------------------------------------------------------------


async def payment_step(conn: asyncpg.Connection, payment_id: int) -> PaymentStep | None:
    row = await conn.fetchrow(
        "SELECT payment_id, user_coupon_id, status FROM coupon_payment_steps WHERE payment_id = $1",
        payment_id,
    )
    if row is None:
        return None
    return PaymentStep(row["payment_id"], row["user_coupon_id"], StepStatus(row["status"]))


async def record_step(conn: asyncpg.Connection, step: PaymentStep) -> bool:
    """Records the payment's first step; False when the payment already has one (a concurrent call
    of the same payment on another coupon got there first)."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO coupon_payment_steps (payment_id, user_coupon_id, status) VALUES ($1, $2, $3)
            ON CONFLICT (payment_id) DO NOTHING RETURNING true
            """,
            step.payment_id,
            step.user_coupon_id,
            step.status.value,
        )
    )


async def update_step(conn: asyncpg.Connection, step: PaymentStep) -> None:
    await conn.execute(
        "UPDATE coupon_payment_steps SET status = $2, updated_at = now() WHERE payment_id = $1",
        step.payment_id,
        step.status.value,
    )
