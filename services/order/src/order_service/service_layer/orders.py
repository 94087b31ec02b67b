"""Use cases of the order service. Each move opens one transaction, locks the order's row, leaves the
decision to the domain, and writes the move and its event (through the outbox) together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import asyncpg

from commerce_contracts.events import orders as events
from commerce_contracts.registry import ORDER_EVENTS
from commerce_kit import outbox
from commerce_kit.errors import Forbidden
from commerce_kit.paging import decode_id_cursor, page_of
from order_service.adapters import repository as repo
from order_service.domain import placing
from order_service.domain.errors import OrderNotFound
from order_service.domain.order import Order, OrderStatus
from order_service.domain.placing import CatalogOption, OrderDraft, RequestedLine, UserCoupon


class PaidBy(NamedTuple):
    """A completed payment, as the order service hears of it."""

    order_id: int
    payment_id: int
    paid_at: datetime


class Catalog(Protocol):
    async def options(self, option_ids: Sequence[int]) -> dict[int, CatalogOption]: ...


class Coupons(Protocol):
    async def user_coupon(self, user_coupon_id: int) -> UserCoupon | None: ...


class Payments(Protocol):
    async def refund(self, payment_id: int) -> None: ...


class Orders:
    def __init__(self, pool: asyncpg.Pool, catalog: Catalog, coupons: Coupons, payments: Payments) -> None:
        self.pool, self.catalog, self.coupons, self.payments = pool, catalog, coupons, payments

    # --- placing ---------------------------------------------------------------------------------

    async def place(
        self, user_id: int, requested: Sequence[RequestedLine], user_coupon_id: int | None
    ) -> Order:
        """Check and price the order with what the catalog and the coupon service say now, and save it
        as PENDING_PAYMENT. Nothing is reserved: the payment saga takes the stock and uses the coupon.
        The two services are asked one after the other, in the order of the checks, so that an
        order refused for its stock never waits for (or fails on) the coupon service."""
        placing.refuse_duplicate_options(requested)
        options = await self.catalog.options([line.option_id for line in requested])
        lines = placing.priced_lines(requested, options)
        coupon = None
        if user_coupon_id is not None:
            found = await self.coupons.user_coupon(user_coupon_id)
            coupon = placing.usable_coupon(found, user_coupon_id, user_id, datetime.now(UTC))
        return await self.record(placing.draft_order(user_id, lines, coupon))

    async def record(self, draft: OrderDraft) -> Order:
        """Save a checked, priced order and announce it (OrderPlaced), in one transaction."""
        async with self._transaction() as conn:
            order = await repo.insert_order(conn, draft)
            await outbox.add(
                conn,
                ORDER_EVENTS,
                events.OrderPlaced(
                    order_id=order.id,
                    user_id=order.user_id,
                    lines=tuple(
                        events.OrderLine(
                            product_id=line.product_id,
                            option_id=line.option_id,
                            quantity=line.quantity,
                            unit_price=line.unit_price,
                        )
                        for line in order.lines
                    ),
                    total_amount=order.total_amount,
                    discount_amount=order.discount_amount,
                    pay_amount=order.pay_amount,
                    user_coupon_id=order.user_coupon_id,
                    placed_at=order.created_at,
                ),
            )
        return order

    # --- reading ---------------------------------------------------------------------------------

    async def get(self, order_id: int) -> Order:
        async with self.pool.acquire() as conn:
            found = await repo.order(conn, order_id)
        if found is None:
            raise OrderNotFound(f"Order {order_id} does not exist")
        return found

    async def of_user(self, user_id: int, cursor: str | None, size: int) -> tuple[list[Order], str | None]:
        before_id = decode_id_cursor(cursor)
        async with self.pool.acquire() as conn:
            found = await repo.orders_of(conn, user_id, before_id, size + 1)
        return page_of(found, size, lambda o: (o.id,))

    # --- moves -----------------------------------------------------------------------------------

    async def cancel(self, order_id: int, user_id: int) -> Order:
        """The owner cancels an order: an unpaid one becomes CANCELLED; a PAID one is refunded by the
        payment service's refund saga (stock, balance and coupon given back), which ends by marking
        it REFUNDED here (`refunded` below). A refund the payment service cannot finish at once
        answers 503 and completes on its own."""
        order = await self.get(order_id)
        if order.user_id != user_id:
            raise Forbidden("Only the order's owner may cancel it")
        if order.status is OrderStatus.PAID and order.payment_id is not None:
            await self.payments.refund(order.payment_id)
            return await self.get(order_id)
        async with self._transaction() as conn:
            order = await self._locked(conn, order_id)  # still unpaid? the lock settles any race
            cancelled = order.cancel()
            at = await repo.move(conn, cancelled, order.status)
            await outbox.add(
                conn,
                ORDER_EVENTS,
                events.OrderCancelled(order_id=order.id, user_id=order.user_id, cancelled_at=at),
            )
        return cancelled

    async def confirm_paid(self, payments: Sequence[PaidBy]) -> None:
        """PaymentCompleted seen on Kafka: each order is PAID by its payment (normally it already is,
        the saga's last step did it, and one read of all of them is the whole work; a refund since
        then is not undone)."""
        async with self.pool.acquire() as conn:
            found = await repo.payments_of(conn, [p.order_id for p in payments])
        for p in payments:
            status, paid_by = found.get(p.order_id, (None, None))
            if paid_by == p.payment_id and status in (OrderStatus.PAID, OrderStatus.REFUNDED):
                continue  # as the saga left it: nothing to read or write
            await self.paid(p.order_id, p.payment_id, p.paid_at)

    async def paid_orders(self, cursor: str | None, size: int) -> tuple[list[Order], str | None]:
        """Every paid (and refunded) order, oldest first: what the ranking service backfills from."""
        after_id = decode_id_cursor(cursor)
        async with self.pool.acquire() as conn:
            found = await repo.paid_orders(conn, after_id or 0, size + 1)
        return page_of(found, size, lambda o: (o.id,))

    async def paid(self, order_id: int, payment_id: int, paid_at: datetime) -> Order:
        """The payment saga's last step: PENDING_PAYMENT -> PAID, once per payment."""
        async with self._transaction() as conn:
            order = await self._locked(conn, order_id)
            paid = order.pay(payment_id)
            if paid is order:
                return order  # the same payment again: nothing to write or announce
            at = await repo.move(conn, paid, order.status, at=paid_at)  # or InvalidOrderState
            await outbox.add(
                conn,
                ORDER_EVENTS,
                events.OrderPaid(order_id=order.id, user_id=order.user_id, payment_id=payment_id, paid_at=at),
            )
        return paid

    async def refunded(self, order_id: int, payment_id: int) -> Order:
        """The refund saga's last step: PAID -> REFUNDED, once."""
        async with self._transaction() as conn:
            order = await self._locked(conn, order_id)
            refunded = order.refund(payment_id)
            if refunded is order:
                return order
            at = await repo.move(conn, refunded, order.status)
            await outbox.add(
                conn,
                ORDER_EVENTS,
                events.OrderRefunded(
                    order_id=order.id, user_id=order.user_id, payment_id=payment_id, refunded_at=at
                ),
            )
        return refunded

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @staticmethod
    async def _locked(conn: asyncpg.Connection, order_id: int) -> Order:
        # The row lock serialises every move of one order (payment, cancel, expiry): each sees the
        # state the previous one left, and the domain decides.
        found = await repo.order(conn, order_id, lock=True)
        if found is None:
            raise OrderNotFound(f"Order {order_id} does not exist")
        return found


__all__ = ["Catalog", "Coupons", "Order", "OrderStatus", "Orders", "Payments"]
