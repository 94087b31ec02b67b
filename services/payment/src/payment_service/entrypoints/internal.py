"""What the order service calls: the refund of a paid order (its cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from commerce_kit.api import path_id, problems
from commerce_kit.web import InternalCaller
from payment_service.entrypoints.http import PaymentOut
from payment_service.service_layer.answers import payment_body
from payment_service.service_layer.payments import Payments

router = APIRouter(prefix="/internal/v1", tags=["internal: refunds"])

#: Every call of the saga (and of the order service), answered by its route's function ahead of
#: FastAPI's machinery (commerce_kit.web.install_plain_route; docs/performance.md).
PLAIN_ROUTES = ("refund",)


@router.put(
    "/payments/{paymentId}/refund", response_model=PaymentOut, responses=problems(401, 403, 404, 409, 503)
)
async def refund(
    payment_id: Annotated[int, path_id("paymentId")], caller: InternalCaller, request: Request
) -> PaymentOut:
    """Give back stock, balance and coupon, mark the order REFUNDED, publish PaymentRefunded. Idempotent."""
    payments: Payments = request.app.state.payments
    return PaymentOut.model_validate(payment_body(await payments.refund(payment_id)))
