"""Recording sales and refunds as the payment events arrive (SPEC.md section 6), each once per
payment, with the day's counters in the same transaction: a sale shows in the ranking as soon as
its transaction commits, a refund leaves it the same way.

Sales and refunds come from two topics with no order between them, so a refund may arrive first.
It then records the sale as already refunded (the refund event carries the lines and `paid_at`),
which is never counted; the sale arriving later finds its payment recorded and does nothing. Either
order ends with the same row and the same counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter

from ranking_service.adapters import repository as repo
from ranking_service.domain.sales import Sale, counts_by_day, latest_names

SALES_RECORDED = Counter("ranking_sales_recorded_total", "Sales recorded, once per payment", ["source"])
REFUNDS_RECORDED = Counter(
    "ranking_refunds_recorded_total", "Refunds recorded, once per payment", ["arrived"]
)


class Sales:
    def __init__(self, pool: asyncpg.Pool, zone: ZoneInfo, on_change: Callable[[], None]) -> None:
        self.pool, self.zone = pool, zone
        self._on_change = on_change  # this instance's cached answers are stale from now on

    async def record_sales(self, sales: Sequence[Sale]) -> int:
        """Many sales in one transaction (a batch of payment events); how many were new (a payment
        already recorded, redelivered or refunded before it arrived, or twice in `sales`, counts
        once)."""
        async with self.pool.acquire() as conn, conn.transaction():
            recorded = await repo.insert_sales(conn, sales, repo.Source.PAYMENT)
            new = list({s.payment_id: s for s in sales if s.payment_id in recorded}.values())
            for day, deltas in counts_by_day(new, self.zone):
                await repo.add_counts(conn, day, deltas)
            await repo.save_names(conn, latest_names(new))
        if new:
            SALES_RECORDED.labels("payment").inc(len(new))
            self._on_change()
        return len(new)

    async def record_sale(self, sale: Sale) -> bool:
        """False for a payment already recorded (redelivered, or refunded before it arrived)."""
        return await self.record_sales([sale]) == 1

    async def record_refund(self, refund: Sale) -> bool:
        """`refund` is the sale as the refund event tells it, with `refunded_at`. False when the
        payment was already refunded (a redelivery)."""
        assert refund.refunded_at is not None, "a refund has its refunded_at"
        async with self.pool.acquire() as conn, conn.transaction():
            # Insert first: ON CONFLICT waits for a sale being recorded right now, so the update
            # below always sees a sale that exists.
            if await repo.insert_sales(conn, [refund], repo.Source.REFUND):
                await repo.save_names(conn, latest_names([refund]))
                arrived = "before_sale"
            else:
                stored = await repo.mark_refunded(conn, refund.payment_id, refund.refunded_at)
                if stored is None:
                    return False
                # The stored sale says what was counted, and on which day.
                await repo.add_counts(conn, stored.day(self.zone), stored.uncounted())
                arrived = "after_sale"
        REFUNDS_RECORDED.labels(arrived).inc()
        self._on_change()
        return True
