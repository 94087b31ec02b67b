"""TransactionHistoryConsumer: the wallet history's PAYMENT and REFUND rows, written from the
payment service's events (SPEC.md section 5), once per payment however often an event arrives."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import Consumer
from user_service.service_layer.wallets import Wallets


def transaction_history_consumers(wallets: Wallets) -> list[Consumer]:
    async def on_payment(event: PaymentCompleted) -> None:
        await wallets.record_payment(
            event.payment_id, event.user_id, event.order_id, event.amount, event.paid_at, event.balance_after
        )

    async def on_refund(event: PaymentRefunded) -> None:
        await wallets.record_refund(
            event.payment_id,
            event.user_id,
            event.order_id,
            event.amount,
            event.refunded_at,
            event.balance_after,
        )

    # One consumer group per topic: a rebalance of one never pauses the other.
    return [
        Consumer(PAYMENT_COMPLETED, "user.payment-history", on_payment),
        Consumer(PAYMENT_REFUNDED, "user.refund-history", on_refund),
    ]
