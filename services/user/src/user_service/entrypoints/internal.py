"""What the payment saga calls: debit and give back, idempotent on the payment id. Reachable only
inside the cluster (the gateway routes /api/v1 only) and only with a SERVICE token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, Money, path_id, problems
from commerce_kit.errors import NotFound
from commerce_kit.web import InternalCaller
from user_service.bootstrap import Deps
from user_service.service_layer.wallets import Debit

router = APIRouter(prefix="/internal/v1", tags=["internal: payment saga"])

PaymentId = Annotated[int, path_id("paymentId")]


class DebitRequest(ApiRequest):
    user_id: BodyId
    amount: Annotated[Money, Field(ge=0)]
    order_id: BodyId | None = None


class GiveBackRequest(ApiRequest):
    user_id: BodyId


class DebitOut(ApiResponse):
    payment_id: int
    user_id: int
    amount: int
    status: str = Field(description="TAKEN, REFUSED (balance too low), GIVEN_BACK or VOIDED")
    balance_after: int | None


def _out(debit: Debit) -> DebitOut:
    return DebitOut(
        payment_id=debit.payment_id,
        user_id=debit.user_id,
        amount=debit.amount,
        status=debit.status.value,
        balance_after=debit.balance_after,
    )


@router.put(
    "/payments/{paymentId}/debit", response_model=DebitOut, responses=problems(400, 401, 403, 404, 409)
)
async def debit(payment_id: PaymentId, body: DebitRequest, caller: InternalCaller, deps: Deps) -> DebitOut:
    """Take `amount` from the wallet for this payment, once. REFUSED when the balance is short."""
    return _out(await deps.wallets.debit_for_payment(payment_id, body.user_id, body.amount, body.order_id))


@router.get("/payments/{paymentId}/debit", response_model=DebitOut, responses=problems(401, 403, 404))
async def debit_outcome(payment_id: PaymentId, caller: InternalCaller, deps: Deps) -> DebitOut:
    found = await deps.wallets.debit_of(payment_id)
    if found is None:
        raise NotFound(f"No debit for payment {payment_id}", code="PAYMENT_NOT_FOUND")
    return _out(found)


@router.put(
    "/payments/{paymentId}/give-back", response_model=DebitOut, responses=problems(400, 401, 403, 409)
)
async def give_back(
    payment_id: PaymentId, body: GiveBackRequest, caller: InternalCaller, deps: Deps
) -> DebitOut:
    """Return what the payment took (compensation or refund), once."""
    return _out(await deps.wallets.give_back(payment_id, body.user_id))
