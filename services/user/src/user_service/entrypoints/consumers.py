"""TransactionHistoryConsumer: the wallet history's PAYMENT and REFUND rows, written from the
payment service's events (SPEC.md section 5), once per payment however often an event arrives, with
the time and balance the payment's debit (or give-back) recorded here, so that a row written late
still takes its place in the statement.

Batch consumers: a batch of events is one statement and one offset commit, where an event at a time
would cost a transaction, a commit to Kafka and a fetch each. The rows trail the payments by at most
a tenth of a second more (the kit's batch fetch)."""

from __future__ import annotations

from commerce_contracts.events.payments import PaymentCompleted, PaymentRefunded
from commerce_contracts.registry import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from commerce_kit.messaging import BatchConsumer
from user_service.domain.wallet import HistoryEntry, TransactionType
from user_service.service_layer.wallets import Wallets


def transaction_history_consumers(wallets: Wallets) -> list[BatchConsumer]:
    async def on_payments(events: list[PaymentCompleted]) -> None:
        await wallets.record_history(
            TransactionType.PAYMENT,
            [
                HistoryEntry(e.payment_id, e.user_id, e.order_id, e.amount, e.paid_at, e.balance_after)
                for e in events
            ],
        )

    async def on_refunds(events: list[PaymentRefunded]) -> None:
        await wallets.record_history(
            TransactionType.REFUND,
            [
                HistoryEntry(e.payment_id, e.user_id, e.order_id, e.amount, e.refunded_at, e.balance_after)
                for e in events
            ],
        )

    # One consumer group per topic: a rebalance of one never pauses the other.
    return [
        BatchConsumer(PAYMENT_COMPLETED, "user.payment-history", on_payments),
        BatchConsumer(PAYMENT_REFUNDED, "user.refund-history", on_refunds),
    ]
