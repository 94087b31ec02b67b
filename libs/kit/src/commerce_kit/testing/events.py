"""Sample events for tests of the messaging code."""

from __future__ import annotations

from datetime import UTC, datetime

from commerce_contracts.events.payments import PaidLine, PaymentCompleted


def payment_completed(n: int) -> PaymentCompleted:
    """Payment `n` of order 1: every sample has the same key, so all go to one partition, in order."""
    return PaymentCompleted(
        payment_id=n,
        order_id=1,
        user_id=1,
        amount=100,
        items=(PaidLine(product_id=1, option_id=1, quantity=1, unit_price=100),),
        paid_at=datetime.now(UTC),
    )
