"""What the order service calls: the refund of a paid order (its cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from commerce_kit.api import path_id, problems
from commerce_kit.web import InternalCaller
from payment_service.bootstrap import Deps
from payment_service.service_layer.answers import PaymentOut

router = APIRouter(prefix="/internal/v1", tags=["internal: refunds"])


@router.put(
    "/payments/{paymentId}/refund", response_model=PaymentOut, responses=problems(401, 403, 404, 409, 503)
)
async def refund(
    payment_id: Annotated[int, path_id("paymentId")], caller: InternalCaller, deps: Deps
) -> PaymentOut:
    """Give back stock, balance and coupon, mark the order REFUNDED, publish PaymentRefunded. Idempotent."""
    return PaymentOut.of(await deps.payments.refund(payment_id))
