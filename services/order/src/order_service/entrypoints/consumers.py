"""The order's own view of payments: a `PaymentCompleted` marks its order PAID (the saga's last step
normally did it already; this keeps the order right even if that answer was lost). Idempotent."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted
from commerce_contracts.registry import PAYMENT_COMPLETED
from commerce_kit.messaging import Consumer, Permanent
from order_service.domain.errors import InvalidOrderState, OrderNotFound
from order_service.service_layer.orders import Orders


def payment_status_consumer(orders: Orders) -> Consumer:
    async def on_payment(event: PaymentCompleted) -> None:
        try:
            await orders.confirm_paid(event.order_id, event.payment_id, event.paid_at)
        except (InvalidOrderState, OrderNotFound) as exc:
            # A completed payment for an order that cannot be paid: a human must look (dead letter).
            raise Permanent(str(exc)) from exc

    return Consumer(PAYMENT_COMPLETED, "order.payment-status", on_payment)
