"""What a payment answers, the same whether computed now or replayed for an Idempotency-Key: the
payment (`PaymentOut`), or the problem that refused it. A key's stored answer is this, serialized once
when the saga ends and parsed once when it is replayed."""

from __future__ import annotations

from datetime import datetime

from commerce_kit.api import ApiResponse
from commerce_kit.idempotency import StoredAnswer
from payment_service.adapters.repository import PaymentRecord
from payment_service.domain.errors import FAILURES, InvalidOrderState
from payment_service.domain.saga import Status


class PaymentOut(ApiResponse):
    payment_id: int
    order_id: int
    user_id: int
    amount: int
    status: str
    paid_at: datetime | None
    failure_code: str | None = None
    refunded_at: datetime | None = None

    @classmethod
    def of(cls, p: PaymentRecord) -> PaymentOut:
        return cls(
            payment_id=p.id,
            order_id=p.order_id,
            user_id=p.user_id,
            amount=p.amount,
            status=p.saga.status.value,
            # A failed saga may have stamped the instant it meant to pay at: it never paid.
            paid_at=p.paid_at if p.saga.status is not Status.FAILED else None,
            failure_code=p.saga.failure_code,
            refunded_at=p.refunded_at,
        )


#: A payment request's answer: the payment (201), or a refusal as its status and problem+json body.
PayAnswer = PaymentOut | StoredAnswer


def answer_for(p: PaymentRecord) -> PayAnswer:
    """The answer of a saga that is final."""
    if p.saga.status is Status.FAILED:
        error = FAILURES.get(p.saga.failure_code or "", InvalidOrderState)(p.saga.failure_detail)
        return StoredAnswer(error.status, error.problem() | {"paymentId": p.id})
    return PaymentOut.of(p)


def stored(answer: PayAnswer) -> StoredAnswer:
    """The answer as its Idempotency-Key keeps it."""
    if isinstance(answer, StoredAnswer):
        return answer
    return StoredAnswer(201, answer.model_dump(mode="json"))


def replayed(answer: StoredAnswer) -> PayAnswer:
    """A key's stored answer, as it was first given."""
    return PaymentOut.model_validate(answer.body) if answer.status_code < 400 else answer
