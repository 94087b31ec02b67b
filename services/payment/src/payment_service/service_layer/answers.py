"""What a payment answers, the same whether computed now or replayed for an Idempotency-Key."""

from __future__ import annotations

from typing import Any

from commerce_kit.idempotency import StoredAnswer
from payment_service.adapters.repository import PaymentRecord
from payment_service.domain.errors import FAILURES, InvalidOrderState
from payment_service.domain.saga import Status


def payment_body(p: PaymentRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "paymentId": p.id,
        "orderId": p.order_id,
        "userId": p.user_id,
        "amount": p.amount,
        "status": p.saga.status.value,
        "paidAt": p.paid_at.isoformat() if p.paid_at and p.saga.status is not Status.FAILED else None,
    }
    if p.saga.failure_code:
        body["failureCode"] = p.saga.failure_code
    if p.refunded_at:
        body["refundedAt"] = p.refunded_at.isoformat()
    return body


def answer_for(p: PaymentRecord) -> StoredAnswer:
    if p.saga.status is Status.FAILED:
        error = FAILURES.get(p.saga.failure_code or "", InvalidOrderState)(p.saga.failure_detail)
        return StoredAnswer(error.status, error.problem() | {"paymentId": p.id})
    return StoredAnswer(201, payment_body(p))
