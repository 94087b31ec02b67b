"""The ranking's consumers of the payment topics (SPEC.md section 6): every completed payment is a
sale, every refund takes its sale back. One consumer group per topic, so a rebalance of one never
pauses the other; both are idempotent on the payment id (service_layer/sales.py).

Sales come in batches: a batch is one transaction and one offset commit, where a sale at a time
would cost a transaction, a commit to Kafka and a fetch each; the ranking trails the payments by at
most a tenth of a second more. Refunds are few: one at a time."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import BatchConsumer, Consumer
from ranking_service.domain.sales import Line, Sale
from ranking_service.service_layer.sales import Sales


def sale_of(event: PaymentCompleted | PaymentRefunded) -> Sale:
    lines = tuple(Line(i.product_id, i.quantity, i.product_name) for i in event.items)
    refunded_at = event.refunded_at if isinstance(event, PaymentRefunded) else None
    return Sale(event.payment_id, event.order_id, event.user_id, event.paid_at, lines, refunded_at)


def ranking_consumers(sales: Sales) -> tuple[BatchConsumer, Consumer]:
    async def on_payments(events: list[PaymentCompleted]) -> None:
        await sales.record_sales([sale_of(e) for e in events])

    async def on_refund(event: PaymentRefunded) -> None:
        await sales.record_refund(sale_of(event))

    return (
        BatchConsumer(PAYMENT_COMPLETED, "ranking.sales", on_payments),
        Consumer(PAYMENT_REFUNDED, "ranking.refunds", on_refund),
    )
