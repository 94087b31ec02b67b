"""The public API of payments (API.md "Orders and payments")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from commerce_kit.api import ApiRequest, BodyId, IdempotencyKey, path_id, problems
from commerce_kit.web import Caller, ProblemResponse
from payment_service.bootstrap import Deps
from payment_service.service_layer.answers import PaymentOut

router = APIRouter(prefix="/api/v1", tags=["payments"])


class PayRequest(ApiRequest):
    order_id: BodyId


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    responses=problems(400, 401, 403, 404, 409, 422, 429, 503),
)
async def pay(
    body: PayRequest,
    caller: Caller,
    deps: Deps,
    idempotency_key: IdempotencyKey = None,
) -> PaymentOut | Response:
    """Pay an order with the wallet: stock, balance and coupon are taken, or nothing is. 201 with the
    payment, or 409 with the reason (INSUFFICIENT_STOCK, INSUFFICIENT_BALANCE, COUPON_UNAVAILABLE,
    INVALID_ORDER_STATE). 503 when a service it needs is away; the payment then finishes on its own and
    a retry with the same `Idempotency-Key` sees its outcome. 429 beyond PAYMENT_RATE_PER_USER."""
    answer = await deps.payments.pay(caller.user_id, body.order_id, idempotency_key)
    if isinstance(answer, PaymentOut):
        return answer
    # A refusal, as its key stores it (the same problem+json whether given now or replayed).
    return ProblemResponse(answer.body, status_code=answer.status_code)


@router.get("/payments/{paymentId}", response_model=PaymentOut, responses=problems(401, 403, 404))
async def get_payment(
    payment_id: Annotated[int, path_id("paymentId")], caller: Caller, deps: Deps
) -> PaymentOut:
    found = await deps.payments.get(payment_id)
    caller.require_owner(found.user_id, admin_may=True)
    return PaymentOut.of(found)
