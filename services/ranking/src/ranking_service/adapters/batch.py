"""SQL of the rebuild and the backfill: the rebuild's lock, a day's recomputation, the runs, and the
backfill's progress. Functions take a connection so that the use case decides the transaction."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from ranking_service.domain.calendar import Window

# --- the rebuild ----------------------------------------------------------------------------------

#: The rebuild's session-level advisory lock: (classid, objid), "RANK" and 1. Advisory locks are
#: per database and other services share it; this pair is the ranking service's alone.
REBUILD_LOCK = (0x52414E4B, 1)


async def try_rebuild_lock(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *REBUILD_LOCK))


async def release_rebuild_lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", *REBUILD_LOCK)


async def lock_counters(conn: asyncpg.Connection) -> None:
    """Held until the end of the caller's transaction. EXCLUSIVE lets readers read (the last committed
    counts) but makes the consumers' writes wait, so a day recomputed from the sales committed so far
    never overwrites, or misses, a sale counted meanwhile (docs/rebuild.md, "Events during a rebuild")."""
    await conn.execute("LOCK TABLE product_day_sales IN EXCLUSIVE MODE")


async def recompute_day(
    conn: asyncpg.Connection, day: date, start: datetime, end: datetime
) -> tuple[int, int]:
    """Replace `day`'s counters by the sum of its not-refunded sales (paid in [start, end)), all in
    PostgreSQL. Returns (products, units) written."""
    await conn.execute("DELETE FROM product_day_sales WHERE day = $1", day)
    row = await conn.fetchrow(
        """
        WITH counted AS (
            INSERT INTO product_day_sales (day, product_id, quantity)
            SELECT $1, line.product_id, sum(line.quantity)
            FROM sales s CROSS JOIN LATERAL unnest(s.product_ids, s.quantities) AS line(product_id, quantity)
            WHERE s.paid_at >= $2 AND s.paid_at < $3 AND s.refunded_at IS NULL
            GROUP BY line.product_id
            RETURNING quantity)
        SELECT count(*) AS products, coalesce(sum(quantity), 0)::bigint AS units FROM counted
        """,
        day,
        start,
        end,
    )
    return row["products"], row["units"]


async def forget_days_before(conn: asyncpg.Connection, day: date) -> int:
    """Counters older than any window the API can ask for are never read again."""
    result = await conn.execute("DELETE FROM product_day_sales WHERE day < $1", day)
    return int(result.split()[-1])


async def start_run(
    conn: asyncpg.Connection, trigger: str, window: Window, scheduled_for: date | None
) -> int | None:
    """Record a run (the caller holds the rebuild lock, so any run still RUNNING died with its
    instance). None when the scheduled day already has its run."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE rebuild_runs SET status = 'INTERRUPTED', finished_at = now(),"
            " error = 'the instance running it stopped' WHERE status = 'RUNNING'"
        )
        return await conn.fetchval(
            """
            INSERT INTO rebuild_runs (trigger, scheduled_for, status, first_day, last_day)
            VALUES ($1, $2, 'RUNNING', $3, $4)
            ON CONFLICT (scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
            RETURNING id
            """,
            trigger,
            scheduled_for,
            window.first,
            window.last,
        )


async def finish_run(
    conn: asyncpg.Connection, run_id: int, status: str, backfilled: int, error: str | None = None
) -> None:
    """Record the run's end and let go of the rebuild lock in one statement: the lock is released
    before the new status commits, so whoever sees the run ended can start the next one."""
    await conn.execute(
        """
        WITH ended AS (
            UPDATE rebuild_runs SET status = $2, backfilled_sales = $3, error = $4, finished_at = now()
            WHERE id = $1 RETURNING id
        )
        SELECT pg_advisory_unlock($5, $6) FROM ended
        """,
        run_id,
        status,
        backfilled,
        error,
        *REBUILD_LOCK,
    )


async def run(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM rebuild_runs WHERE id = $1", run_id)


async def running_run_id(conn: asyncpg.Connection) -> int | None:
    return await conn.fetchval("SELECT max(id) FROM rebuild_runs WHERE status = 'RUNNING'")


# --- the backfill's progress ----------------------------------------------------------------------


async def backfill_state(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow("SELECT status, cursor, pages, sales FROM backfill")


async def restart_backfill(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "UPDATE backfill SET status = 'PENDING', cursor = NULL, pages = 0, sales = 0, updated_at = now()"
    )


async def save_backfill_page(conn: asyncpg.Connection, next_cursor: str | None, sales: int) -> None:
    """In the page's own transaction: the page is in and the next one starts at `next_cursor`
    (none left: DONE)."""
    await conn.execute(
        """
        UPDATE backfill SET cursor = $1, pages = pages + 1, sales = sales + $2, updated_at = now(),
            status = CASE WHEN $1::text IS NULL THEN 'DONE' ELSE 'PENDING' END
        """,
        next_cursor,
        sales,
    )
