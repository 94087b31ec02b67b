"""The order's own view of payments: a `PaymentCompleted` marks its order PAID (the saga's last step
normally did it already; this keeps the order right even if that answer was lost). Idempotent.

A batch consumer: a batch is one read (and one offset commit) when the saga did its work, which is
nearly always. When a batch fails, the kit retries its events one at a time, so that only the
culprit goes to the dead-letter topic."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import BatchConsumer, Permanent
from order_service.domain.errors import InvalidOrderState, OrderNotFound
from order_service.service_layer.orders import Orders, PaidBy


def payment_status_consumer(orders: Orders) -> BatchConsumer:
    async def on_payments(events: list[PaymentCompleted]) -> None:
        try:
            await orders.confirm_paid([PaidBy(e.order_id, e.payment_id, e.paid_at) for e in events])
        except (InvalidOrderState, OrderNotFound) as exc:
            # A completed payment for an order that cannot be paid: a human must look (dead letter).
            raise Permanent(str(exc)) from exc

    return BatchConsumer(PAYMENT_COMPLETED, "order.payment-status", on_payments)
