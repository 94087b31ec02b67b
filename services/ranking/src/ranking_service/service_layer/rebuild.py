"""The rebuild: the seed's daily batch, made safe to run beside the event path (docs/rebuild.md).

It recomputes the per-day counters of the last `RANKING_REBUILD_DAYS` days from the stored sales,
day by day, in SQL inside PostgreSQL, after backfilling from the order service when the schema
started empty. Whatever triggers it (the admin API, 00:00 APP_ZONE, a start on an empty schema), it
runs on one instance at a time: the one that gets PostgreSQL's session advisory lock on a connection
it keeps for the whole run. The lock goes away with that session, so a crashed instance never leaves
it held; a second trigger meanwhile, from any instance, answers ALREADY_RUNNING.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Histogram

from commerce_kit.errors import AppError
from ranking_service.adapters import batch
from ranking_service.domain.calendar import Window, day_bounds, day_of
from ranking_service.service_layer.backfill import Backfill

log = logging.getLogger(__name__)

REBUILD_SECONDS = Histogram(
    "ranking_rebuild_duration_seconds",
    "Time a rebuild took (backfill included), by outcome",
    ["outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
)


class Trigger(StrEnum):
    ADMIN = "ADMIN"  # POST /api/v1/admin/rankings/rebuild
    SCHEDULED = "SCHEDULED"  # 00:00 APP_ZONE
    STARTUP = "STARTUP"  # a start on a schema whose backfill is pending
    MANUAL = "MANUAL"  # scripts (the benchmark)


class Outcome(StrEnum):
    STARTED = "STARTED"
    ALREADY_RUNNING = "ALREADY_RUNNING"  # another rebuild holds the lock, on this instance or another
    ALREADY_DONE = "ALREADY_DONE"  # the scheduled day already has its run


@dataclass(frozen=True)
class Started:
    status: Outcome
    run_id: int | None


@dataclass(frozen=True)
class RunReport:
    id: int
    trigger: str
    status: str  # RUNNING, DONE, FAILED, INTERRUPTED
    first_day: date
    last_day: date
    backfilled_sales: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class Rebuilder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        backfill: Backfill,
        zone: ZoneInfo,
        clock: Callable[[], datetime],
        days: int,
        on_change: Callable[[], None],
    ) -> None:
        self.pool, self.backfill, self.zone, self.days = pool, backfill, zone, days
        self._clock, self._on_change = clock, on_change
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def window(self) -> Window:
        today = day_of(self._clock(), self.zone)
        return Window(today - timedelta(days=self.days - 1), today)

    async def start(self, trigger: Trigger, scheduled_for: date | None = None) -> Started:
        """Take the lock and start a run in the background, or say why not. Answers at once."""
        conn: asyncpg.Connection = await self.pool.acquire()
        handed_over = False
        try:
            if not await batch.try_rebuild_lock(conn):
                return Started(Outcome.ALREADY_RUNNING, await batch.running_run_id(conn))
            try:
                window = self.window()
                run_id = await batch.start_run(conn, trigger.value, window, scheduled_for)
                if run_id is None:
                    return Started(Outcome.ALREADY_DONE, None)
                task = asyncio.create_task(self._run(conn, run_id, window), name=f"rebuild-{run_id}")
                handed_over = True  # the run releases the lock and the connection when it ends
            finally:
                if not handed_over:
                    await batch.release_rebuild_lock(conn)
        finally:
            if not handed_over:
                await self.pool.release(conn)
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))
        log.info("rebuild %d started (%s): %s .. %s", run_id, trigger.value, window.first, window.last)
        return Started(Outcome.STARTED, run_id)

    async def run(self, trigger: Trigger) -> tuple[Started, RunReport | None]:
        """Start a run and wait for its end (scripts, the start-up backfill)."""
        started = await self.start(trigger)
        if started.status is Outcome.STARTED and started.run_id is not None:
            await self.wait(started.run_id)
        return started, await self.report(started.run_id) if started.run_id is not None else None

    async def wait(self, run_id: int) -> None:
        """Wait for a run of this instance to end (its outcome is in its report)."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    async def report(self, run_id: int) -> RunReport | None:
        async with self.pool.acquire() as conn:
            row = await batch.run(conn, run_id)
        return None if row is None else RunReport(**{f: row[f] for f in RunReport.__dataclass_fields__})

    async def backfill_pending(self) -> bool:
        async with self.pool.acquire() as conn:
            return await self.backfill.pending(conn)

    async def stop(self) -> None:
        """Shutdown: runs still going are cancelled (recorded INTERRUPTED, or found so by the next)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, conn: asyncpg.Connection, run_id: int, window: Window) -> None:
        began = time.perf_counter()
        status, error, backfilled = "FAILED", None, 0
        try:
            backfilled = await self.backfill.run(conn)
            await self._recompute(conn, run_id, window)
            status = "DONE"
        except asyncio.CancelledError:
            status, error = "INTERRUPTED", "the instance stopped during the run"
            raise
        except AppError as exc:  # a dependency away or refusing (the order service): no trace to read
            log.warning("rebuild %d failed: %s: %s", run_id, type(exc).__name__, exc)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        except Exception as exc:  # recorded in the run and logged; the counters keep their last state
            log.exception("rebuild %d failed", run_id)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            elapsed = time.perf_counter() - began
            REBUILD_SECONDS.labels(status.lower()).observe(elapsed)
            log.info("rebuild %d %s in %.2f s", run_id, status, elapsed)
            try:
                await batch.finish_run(conn, run_id, status, backfilled, error)  # and lets go of the lock
            except Exception:
                # The lock may still be held: close the connection, which releases it (the pool does
                # not reset session state on release, see commerce_kit.db).
                log.exception("rebuild %d: could not record its end", run_id)
                conn.terminate()
            finally:
                await self.pool.release(conn)
                self._on_change()

    async def _recompute(self, conn: asyncpg.Connection, run_id: int, window: Window) -> None:
        days = window.days()
        for n, day in enumerate(days, start=1):
            start, end = day_bounds(day, self.zone)
            began = time.perf_counter()
            # One short transaction per day: the consumers wait for one day at most, never the run.
            async with conn.transaction():
                await batch.lock_counters(conn)
                if n == 1:
                    forgotten = await batch.forget_days_before(conn, window.first)
                    if forgotten:
                        log.info("rebuild %d: %d counters before %s dropped", run_id, forgotten, window.first)
                products, units = await batch.recompute_day(conn, day, start, end)
            self._on_change()
            ms = (time.perf_counter() - began) * 1000
            log.info(
                "rebuild %d: %s recomputed (%d/%d): %d products, %d units in %.0f ms",
                run_id,
                day,
                n,
                len(days),
                products,
                units,
                ms,
                extra={
                    "fields": {"run": run_id, "day": str(day), "products": products, "units": units, "ms": ms}
                },
            )
