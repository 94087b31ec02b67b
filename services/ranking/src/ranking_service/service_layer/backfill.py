"""The backfill (SPEC.md section 6: "backfilling from the order service's paid orders when it starts
empty"): every paid order, page by page, into `sales`, idempotent on the payment id.

It runs inside a rebuild (so under the rebuild's lock, on its connection) when the schema started
empty (the migration leaves the backfill PENDING) or when `sales` is empty again. Each page is one
transaction with the cursor of the next page, so an interrupted backfill resumes where it stopped
and never holds more than one page in memory. It does not touch the per-day counters: the rebuild
that follows recomputes them from every sale, the backfilled ones included.
"""

from __future__ import annotations

import logging

import asyncpg

from ranking_service.adapters import batch
from ranking_service.adapters import repository as repo
from ranking_service.adapters.orders import PaidOrders
from ranking_service.domain.sales import latest_names
from ranking_service.service_layer.sales import SALES_RECORDED

log = logging.getLogger(__name__)


class Backfill:
    def __init__(self, orders: PaidOrders) -> None:
        self.orders = orders

    async def pending(self, conn: asyncpg.Connection) -> bool:
        """Not finished since the schema was created (a run on an emptied schema starts it again)."""
        return (await batch.backfill_state(conn))["status"] == "PENDING"

    async def run(self, conn: asyncpg.Connection) -> int:
        """Backfill when needed; returns how many sales the backfill added (resumed runs included)."""
        state = await batch.backfill_state(conn)
        if state["status"] == "DONE":
            if await repo.has_sales(conn):
                return 0
            await batch.restart_backfill(conn)  # emptied since the last backfill: start over
            cursor, pages, added = None, 0, 0
        else:
            cursor, pages, added = state["cursor"], state["pages"], state["sales"]
            if cursor:
                log.info("backfill: resuming after page %d (%d sales so far)", pages, added)
        while True:
            sales, next_cursor = await self.orders.page(cursor)
            async with conn.transaction():
                new = len(await repo.insert_sales(conn, sales, repo.Source.BACKFILL)) if sales else 0
                await repo.save_names(conn, latest_names(sales))
                await batch.save_backfill_page(conn, next_cursor, new)
            SALES_RECORDED.labels("backfill").inc(new)
            pages, added = pages + 1, added + new
            log.info(
                "backfill: page %d, %d paid orders, %d new sales (%d so far)", pages, len(sales), new, added
            )
            if next_cursor is None:
                return added
            cursor = next_cursor
