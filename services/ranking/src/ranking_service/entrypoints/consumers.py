"""The ranking's consumers of the payment topics (SPEC.md section 6): every completed payment is a
sale, every refund takes its sale back. One consumer group per topic, so a rebalance of one never
pauses the other; both are idempotent on the payment id (service_layer/sales.py)."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import Consumer
from ranking_service.domain.sales import Line, Sale
from ranking_service.service_layer.sales import Sales


def sale_of(event: PaymentCompleted | PaymentRefunded) -> Sale:
    lines = tuple(Line(i.product_id, i.quantity, i.product_name) for i in event.items)
    refunded_at = event.refunded_at if isinstance(event, PaymentRefunded) else None
    return Sale(event.payment_id, event.order_id, event.user_id, event.paid_at, lines, refunded_at)


def ranking_consumers(sales: Sales) -> list[Consumer]:
    async def on_payment(event: PaymentCompleted) -> None:
        await sales.record_sale(sale_of(event))

    async def on_refund(event: PaymentRefunded) -> None:
        await sales.record_refund(sale_of(event))

    return [
        Consumer(PAYMENT_COMPLETED, "ranking.sales", on_payment),
        Consumer(PAYMENT_REFUNDED, "ranking.refunds", on_refund),
    ]
