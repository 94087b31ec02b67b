"""The ranking's consumers in memory, on FastStream's TestKafkaBroker: the bytes of a completed payment
and of a refund reach the sales as typed events, each on its own subscription (a batch of sales, a
refund at a time). tests/integration runs them on a real broker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from faststream.kafka import TestKafkaBroker

from commerce_contracts import encode_event
from commerce_contracts.events.payments import PaidLine, PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import create_broker, subscribe, subscribe_batch
from ranking_service.domain.sales import Sale
from ranking_service.entrypoints.consumers import ranking_consumers, sale_of
from ranking_service.service_layer.sales import Sales
from ranking_service.settings import RankingSettings


class RecordedSales:
    """Stands in for the Sales use cases: keeps what the consumers ask it to record."""

    def __init__(self) -> None:
        self.batches: list[list[Sale]] = []
        self.refunds: list[Sale] = []

    async def record_sales(self, sales: Sequence[Sale]) -> int:
        self.batches.append(list(sales))
        return len(sales)

    async def record_refund(self, refund: Sale) -> bool:
        self.refunds.append(refund)
        return True


def paid(payment_id: int) -> PaymentCompleted:
    return PaymentCompleted(
        payment_id=payment_id,
        order_id=payment_id + 100,
        user_id=7,
        amount=3_000,
        items=(PaidLine(product_id=10, option_id=101, quantity=3, unit_price=1_000, product_name="tea"),),
        paid_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )


async def test_payments_and_refunds_reach_the_sales_typed():
    settings = RankingSettings()
    sales = RecordedSales()
    # A stand-in for the Sales use cases: the consumers call record_sales and record_refund alone.
    on_payments, on_refunds = ranking_consumers(cast(Sales, sales))
    broker = create_broker(settings, client_id="ranking-in-memory")
    subscribe_batch(broker, settings, on_payments)
    subscribe(broker, settings, on_refunds)
    first, second = paid(1), paid(2)
    refund = PaymentRefunded(
        **second.model_dump(include={"payment_id", "order_id", "user_id", "amount", "items", "paid_at"}),
        refunded_at=datetime(2026, 1, 3, tzinfo=UTC),
    )
    async with TestKafkaBroker(broker.faststream) as memory:
        await memory.publish_batch(
            encode_event(first), encode_event(second), topic=settings.topic(PAYMENT_COMPLETED.name)
        )
        await memory.publish(encode_event(refund), settings.topic(PAYMENT_REFUNDED.name), key=b"102")
    assert sales.batches == [[sale_of(first), sale_of(second)]]
    assert sales.refunds == [sale_of(refund)]
    assert sales.refunds[0].refunded_at == refund.refunded_at and sales.batches[0][0].lines[0].quantity == 3
