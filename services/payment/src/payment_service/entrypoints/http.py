"""The public API of payments (API.md "Orders and payments")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, path_id, problems
from commerce_kit.idempotency import validate_key
from commerce_kit.web import Caller, ProblemResponse
from payment_service.service_layer.answers import payment_body
from payment_service.service_layer.payments import Payments

router = APIRouter(prefix="/api/v1", tags=["payments"])

#: The shop's hot calls, answered by their route's function ahead of FastAPI's machinery
#: (commerce_kit.web.install_plain_route; docs/performance.md).
PLAIN_ROUTES = ("pay",)


def payments(request: Request) -> Payments:
    return request.app.state.payments


class PayRequest(ApiRequest):
    order_id: BodyId


class PaymentOut(ApiResponse):
    payment_id: int
    order_id: int
    user_id: int
    amount: int
    status: str
    paid_at: datetime | None
    failure_code: str | None = None
    refunded_at: datetime | None = None


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    responses=problems(400, 401, 403, 404, 409, 422, 429, 503),
)
async def pay(
    body: PayRequest,
    caller: Caller,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> Response:
    """Pay an order with the wallet: stock, balance and coupon are taken, or nothing is. 201 with the
    payment, or 409 with the reason (INSUFFICIENT_STOCK, INSUFFICIENT_BALANCE, COUPON_UNAVAILABLE,
    INVALID_ORDER_STATE). 503 when a service it needs is away; the payment then finishes on its own and
    a retry with the same `Idempotency-Key` sees its outcome. 429 beyond PAYMENT_RATE_PER_USER."""
    await request.app.state.rate_limiter.check(caller.user_id)
    answer = await payments(request).pay(caller.user_id, body.order_id, validate_key(idempotency_key))
    if answer.status_code >= 400:
        return ProblemResponse(answer.body, status_code=answer.status_code)
    return Response(
        PaymentOut.model_validate(answer.body).model_dump_json(),
        status_code=201,
        media_type="application/json",
    )


@router.get("/payments/{paymentId}", response_model=PaymentOut, responses=problems(401, 403, 404))
async def get_payment(
    payment_id: Annotated[int, path_id("paymentId")], caller: Caller, request: Request
) -> PaymentOut:
    found = await payments(request).get(payment_id)
    caller.require_owner(found.user_id, admin_may=True)
    return PaymentOut.model_validate(payment_body(found))
