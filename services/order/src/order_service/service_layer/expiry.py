"""The expiry of orders left unpaid longer than ORDER_PAYMENT_TIMEOUT_MINUTES: a periodic job that
every instance schedules and only one runs at a time."""

from __future__ import annotations

import logging

import asyncpg

from commerce_contracts.events.orders import OrderExpired
from commerce_contracts.registry import ORDER_EVENTS
from commerce_kit import outbox
from order_service.adapters import repository as repo
from order_service.domain.order import OrderStatus

log = logging.getLogger(__name__)

#: The advisory lock of the expiry job ("orders" in ASCII, then 1), the same in every instance.
EXPIRY_LOCK = 0x6F72_6465_7273_0001


class UnpaidOrderExpiry:
    def __init__(self, pool: asyncpg.Pool, *, timeout_minutes: int, batch_size: int = 500) -> None:
        self.pool, self.timeout_minutes, self.batch_size = pool, timeout_minutes, batch_size

    async def run(self) -> int:
        """Expire every order that is due, batch by batch; returns how many this call expired."""
        total = 0
        while True:
            expired = await self.run_batch()
            total += expired
            if expired < self.batch_size:
                break
        if total:
            log.info("expired %d unpaid orders", total)
        return total

    async def run_batch(self) -> int:
        """One transaction: at most `batch_size` orders expire, each with its OrderExpired event.

        Two guards, for two different races:
        - the transaction-level advisory lock lets one instance run the job while the others skip
          this round at once (they neither queue behind it nor fight over the same rows); being
          transaction-level, it is released at commit or rollback, even if the process dies;
        - `FOR UPDATE SKIP LOCKED` on the orders leaves alone the rows a payment or a cancel holds
          at this moment, instead of waiting for them: whichever move locks an order first decides,
          through the same guarded state machine, and the other finds it no longer
          PENDING_PAYMENT (a payment that loses to the expiry gets INVALID_ORDER_STATE).
        """
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", EXPIRY_LOCK):
                return 0  # another instance is running the job
            due = await repo.unpaid_since(conn, self.timeout_minutes, self.batch_size)
            expired = [order.expire() for order in due]
            stamps = await repo.move_all(conn, expired, OrderStatus.PENDING_PAYMENT)
            await outbox.add_many(
                conn,
                ORDER_EVENTS,
                [
                    OrderExpired(order_id=order.id, user_id=order.user_id, expired_at=stamps[order.id])
                    for order in expired
                ],
            )
        return len(expired)
