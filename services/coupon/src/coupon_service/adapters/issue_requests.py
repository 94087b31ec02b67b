"""SQL of the first-come-first-served pipeline: settled reservations and the batch issue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from coupon_service.adapters.repository import policy_of
from coupon_service.domain.policy import CouponPolicy
from coupon_service.domain.reservation import Reason, Status
from coupon_service.domain.user_coupon import UserCoupon


@dataclass(frozen=True)
class Settled:
    reservation_id: str
    coupon_id: int
    user_id: int
    status: Status
    reason: Reason | None
    user_coupon_id: int | None


# A batch's lookups by key (`settled`, `holders`) probe the key's index once per key, whatever the
# planner makes of the table: written `key = ANY($1)`, PostgreSQL plans them as sequential scans on
# a table without statistics yet (a new database, or a busy one before autovacuum's next analyze),
# whose cost grows with the table. `LIMIT 1` keeps each probe a subquery: flattened into a join, it
# could be hashed over a scan again.


SETTLED_QUERY = """
    SELECT r.* FROM unnest($1::text[]) AS k(reservation_id),
    LATERAL (
        SELECT reservation_id, coupon_id, user_id, status, reason, user_coupon_id FROM issue_requests
        WHERE reservation_id = k.reservation_id LIMIT 1
    ) r
"""

HOLDERS_QUERY = """
    SELECT c.user_id, c.id FROM unnest($2::bigint[]) AS k(user_id),
    LATERAL (SELECT user_id, id FROM user_coupons WHERE user_id = k.user_id AND coupon_id = $1 LIMIT 1) c
"""


async def settled(conn: asyncpg.Connection | asyncpg.Pool, reservation_ids: list[str]) -> dict[str, Settled]:
    rows = await conn.fetch(SETTLED_QUERY, reservation_ids)
    return {
        r["reservation_id"]: Settled(
            r["reservation_id"],
            r["coupon_id"],
            r["user_id"],
            Status(r["status"]),
            Reason(r["reason"]) if r["reason"] else None,
            r["user_coupon_id"],
        )
        for r in rows
    }


async def lock_coupon(conn: asyncpg.Connection, coupon_id: int) -> tuple[CouponPolicy, int] | None:
    """The policy and its remaining copies, the row locked until the transaction ends and stamped as
    settled now (the reconciler's list, `active_coupons`)."""
    row = await conn.fetchrow(
        "UPDATE coupons SET last_settled_at = now() WHERE id = $1"
        " RETURNING name, discount_type, discount_value, max_discount_amount, target_product_id,"
        " total_quantity, valid_days, issue_start_at, issue_end_at, remaining",
        coupon_id,
    )
    return None if row is None else (policy_of(row), row["remaining"])


async def stamp_settled(conn: asyncpg.Connection, coupon_id: int) -> None:
    """A reservation of the coupon was settled outside a batch (`lock_coupon` stamps the batches)."""
    await conn.execute("UPDATE coupons SET last_settled_at = now() WHERE id = $1", coupon_id)


async def remaining(conn: asyncpg.Connection | asyncpg.Pool, coupon_id: int) -> int | None:
    return await conn.fetchval("SELECT remaining FROM coupons WHERE id = $1", coupon_id)


async def holders(conn: asyncpg.Connection, coupon_id: int, user_ids: list[int]) -> dict[int, int]:
    """user id -> the copy they hold, for those of `user_ids` who hold one."""
    rows = await conn.fetch(HOLDERS_QUERY, coupon_id, user_ids)
    return {r["user_id"]: r["id"] for r in rows}


async def issue_copies(conn: asyncpg.Connection, coupon_id: int, copies: list[UserCoupon]) -> dict[int, int]:
    """Insert the copies and take as many from the coupon's remaining, in one statement. Returns user
    id -> copy id. The caller holds the coupon's row lock and has checked `remaining`."""
    if not copies:
        return {}
    terms = copies[0].terms
    rows = await conn.fetch(
        """
        WITH taken AS (
            UPDATE coupons SET remaining = remaining - cardinality($1::bigint[])
            WHERE id = $2 AND remaining >= cardinality($1::bigint[])
            RETURNING id
        )
        INSERT INTO user_coupons (user_id, coupon_id, name, discount_type, discount_value,
            max_discount_amount, target_product_id, status, issued_at, expires_at)
        SELECT u, $2, $3, $4, $5, $6, $7, 'ISSUED', $8, $9 FROM unnest($1::bigint[]) AS u
        WHERE EXISTS (SELECT FROM taken)
        RETURNING user_id, id
        """,
        [c.user_id for c in copies],
        coupon_id,
        terms.name,
        terms.discount_type.value,
        terms.discount_value,
        terms.max_discount_amount,
        terms.target_product_id,
        copies[0].issued_at,
        copies[0].expires_at,
    )
    if len(rows) != len(copies):  # cannot happen under the row lock; refuse rather than over-issue
        raise RuntimeError(f"coupon {coupon_id} has fewer copies left than were just issued")
    return {r["user_id"]: r["id"] for r in rows}


async def record(
    conn: asyncpg.Connection, rows: list[Settled], requested_at: dict[str, datetime], *, fresh: bool = False
) -> None:
    """Every outcome of a batch in one statement (arrays, not one bound row each: a flood settles
    thousands a second). An outcome recorded already is kept, unless `fresh`: the caller found none
    of these recorded (`settled`) and decided each once, and one recorded since (by a consumer that
    lost the partition but not the race) fails the statement with a UniqueViolationError (see
    `Settlement._issue`). No ON CONFLICT on that path: its speculative insert is a large share of
    the insert's cost per row."""
    await conn.execute(
        """
        INSERT INTO issue_requests
            (reservation_id, coupon_id, user_id, status, reason, user_coupon_id, requested_at)
        SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
                             $7::timestamptz[])
        """
        + ("" if fresh else " ON CONFLICT (reservation_id) DO NOTHING"),
        [s.reservation_id for s in rows],
        [s.coupon_id for s in rows],
        [s.user_id for s in rows],
        [s.status.value for s in rows],
        [s.reason.value if s.reason else None for s in rows],
        [s.user_coupon_id for s in rows],
        [requested_at[s.reservation_id] for s in rows],
    )


async def active_coupons(
    conn: asyncpg.Connection | asyncpg.Pool, since_seconds: int
) -> list[tuple[int, int]]:
    """(coupon id, remaining) of the coupons with requests settled lately: the ones to reconcile."""
    rows = await conn.fetch(
        "SELECT id, remaining FROM coupons WHERE last_settled_at > now() - make_interval(secs => $1)",
        since_seconds,
    )
    return [(r["id"], r["remaining"]) for r in rows]
