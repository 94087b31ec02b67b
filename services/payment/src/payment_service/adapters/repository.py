"""SQL for the payment schema. Functions take a connection; the caller decides the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pydantic import TypeAdapter

from commerce_contracts.events.payments import PaidLine
from payment_service.domain.saga import Saga, Status, Step

#: The `items` column: the order's lines as `PaidLine`s, stored in their event form (snake_case JSON).
LINES = TypeAdapter(tuple[PaidLine, ...])


@dataclass(frozen=True)
class PaymentRecord:
    id: int
    order_id: int
    user_id: int
    amount: int
    user_coupon_id: int | None
    items: tuple[PaidLine, ...]
    saga: Saga
    idem_user_id: int | None
    idem_key: str | None
    balance_after: int | None
    retries: int
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> PaymentRecord:
        saga = Saga(
            status=Status(row["status"]),
            has_coupon=row["user_coupon_id"] is not None,
            done=tuple(Step(s) for s in row["done"]),
            attempted=Step(row["attempted"]) if row["attempted"] else None,
            failure_code=row["failure_code"],
            failure_detail=row["failure_detail"],
        )
        return cls(
            row["id"],
            row["order_id"],
            row["user_id"],
            row["amount"],
            row["user_coupon_id"],
            LINES.validate_python(row["items"]),
            saga,
            row["idem_user_id"],
            row["idem_key"],
            row["balance_after"],
            row["retries"],
            row["created_at"],
            row["paid_at"],
            row["refunded_at"],
        )


async def start(
    conn: asyncpg.Connection,
    *,
    order_id: int,
    user_id: int,
    amount: int,
    user_coupon_id: int | None,
    items: Sequence[PaidLine],
    idem: tuple[int, str] | None,
    lease_owner: str,
    lease_seconds: float,
    attempting: Step,
) -> PaymentRecord | None:
    """A new saga, leased to its starter and saved as attempting its first step (logged STARTED,
    then ATTEMPT), in one statement. None when the order already has a live payment."""
    row = await conn.fetchrow(
        """
        WITH started AS (
            INSERT INTO payments (order_id, user_id, amount, user_coupon_id, items, status, attempted,
                                  idem_user_id, idem_key, lease_owner, lease_until)
            VALUES ($1, $2, $3, $4, $5, 'PENDING', $10, $6, $7, $8, now() + make_interval(secs => $9))
            ON CONFLICT (order_id) WHERE status <> 'FAILED' DO NOTHING
            RETURNING *
        ), logged AS (
            INSERT INTO payment_transitions (payment_id, status, step, event)
            SELECT started.id, 'PENDING', t.step, t.event
            FROM started, (VALUES (1, NULL, 'STARTED'), (2, $10, 'ATTEMPT')) AS t(n, step, event)
            ORDER BY t.n
        )
        SELECT * FROM started
        """,
        order_id,
        user_id,
        amount,
        user_coupon_id,
        LINES.dump_python(tuple(items), mode="json"),
        idem[0] if idem else None,
        idem[1] if idem else None,
        lease_owner,
        lease_seconds,
        attempting.value,
    )
    return None if row is None else PaymentRecord.of(row)


async def load(conn: asyncpg.Connection | asyncpg.Pool, payment_id: int) -> PaymentRecord | None:
    row = await conn.fetchrow("SELECT * FROM payments WHERE id = $1", payment_id)
    return None if row is None else PaymentRecord.of(row)


async def live_payment_of_order(
    conn: asyncpg.Connection | asyncpg.Pool, order_id: int
) -> PaymentRecord | None:
    row = await conn.fetchrow("SELECT * FROM payments WHERE order_id = $1 AND status <> 'FAILED'", order_id)
    return None if row is None else PaymentRecord.of(row)


@dataclass(frozen=True)
class Stamps:
    """What a save records besides the saga, each once it is known; None leaves the column as it is."""

    paid_at: datetime | None = None  # the instant the order and PaymentCompleted carry
    balance_after: int | None = None  # the wallet after the debit
    refunded_at: datetime | None = None


NO_STAMPS = Stamps()


async def save(
    conn: asyncpg.Connection | asyncpg.Pool,
    payment_id: int,
    saga: Saga,
    *,
    owner: str,
    lease_seconds: float,
    step: Step | None,
    event: str,
    detail: str | None = None,
    stamps: Stamps = NO_STAMPS,
    then: tuple[Step, str] | None = None,
) -> PaymentRecord | None:
    """Persist the saga and log the transition, in one statement, if `owner` still holds the lease
    (renewing it); returns the payment as saved. None when the lease was lost: another driver has
    the saga now and this one must stop. `then` logs a second transition after the first (the next
    step's ATTEMPT, saved with the outcome of the one before: one write between two steps)."""
    steps = [step.value if step else None] + ([then[0].value] if then else [])
    events = [event] + ([then[1]] if then else [])
    details = [detail] + ([None] if then else [])
    row = await conn.fetchrow(
        """
        WITH saved AS (
            -- A final saga ($7) has nothing left to drive: its lease goes with the last save, so
            -- that a refund may start at once on any instance, not once the lease has lapsed.
            UPDATE payments SET status = $8, done = $9, attempted = $10, failure_code = $11,
                   failure_detail = $12, paid_at = COALESCE($13, paid_at),
                   balance_after = COALESCE($14, balance_after), refunded_at = COALESCE($15, refunded_at),
                   updated_at = now(),
                   lease_owner = CASE WHEN $7 THEN NULL ELSE lease_owner END,
                   lease_until = CASE WHEN $7 THEN NULL ELSE now() + make_interval(secs => $3) END
            WHERE id = $1 AND lease_owner = $2
            RETURNING *
        ), logged AS (
            INSERT INTO payment_transitions (payment_id, status, step, event, detail)
            SELECT saved.id, saved.status, t.step, t.event, t.detail
            FROM saved,
                 unnest($4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS t(step, event, detail, n)
            ORDER BY t.n
        )
        SELECT * FROM saved
        """,
        payment_id,
        owner,
        lease_seconds,
        steps,
        events,
        details,
        saga.status.final,
        saga.status.value,
        [s.value for s in saga.done],
        saga.attempted.value if saga.attempted else None,
        saga.failure_code,
        saga.failure_detail,
        stamps.paid_at,
        stamps.balance_after,
        stamps.refunded_at,
    )
    return None if row is None else PaymentRecord.of(row)


async def release(
    conn: asyncpg.Connection | asyncpg.Pool, payment_id: int, owner: str, retry_in: float
) -> None:
    """Give the saga back to the recovery worker, to be resumed in `retry_in` seconds."""
    await conn.execute(
        """
        UPDATE payments SET lease_owner = NULL, lease_until = NULL, retries = retries + 1,
               next_attempt_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND lease_owner = $2
        """,
        payment_id,
        owner,
        retry_in,
    )


async def claim(
    conn: asyncpg.Connection | asyncpg.Pool, payment_id: int, owner: str, lease_seconds: float
) -> bool:
    """Take the saga's lease when it is free or has lapsed (its driver died)."""
    return bool(
        await conn.fetchval(
            """
            UPDATE payments SET lease_owner = $2, lease_until = now() + make_interval(secs => $3)
            WHERE id = $1 AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
            RETURNING true
            """,
            payment_id,
            owner,
            lease_seconds,
        )
    )


async def claim_due(
    conn: asyncpg.Connection | asyncpg.Pool, owner: str, lease_seconds: float, limit: int
) -> list[int]:
    """The recovery worker's batch: unfinished sagas that are due and not driven by anyone (their
    driver gave them back, or died: its lease lapsed). Each is logged as RESUMED."""
    rows = await conn.fetch(
        """
        WITH claimed AS (
            UPDATE payments SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
            WHERE id IN (
                SELECT id FROM payments
                WHERE status IN ('PENDING', 'COMPENSATING', 'REFUNDING') AND next_attempt_at <= now()
                  AND (lease_until IS NULL OR lease_until < now())
                ORDER BY next_attempt_at LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING id, status, attempted
        ), logged AS (
            INSERT INTO payment_transitions (payment_id, status, step, event)
            SELECT id, status, attempted, 'RESUMED' FROM claimed
        )
        SELECT id FROM claimed
        """,
        owner,
        lease_seconds,
        limit,
    )
    return [r["id"] for r in rows]


async def transitions(conn: asyncpg.Connection | asyncpg.Pool, payment_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT status, step, event, detail, at FROM payment_transitions WHERE payment_id = $1 ORDER BY id",
        payment_id,
    )
