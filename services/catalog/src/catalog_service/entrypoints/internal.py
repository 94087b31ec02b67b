"""What the order service and the payment saga call: fresh option lookups, and the stock take of a
payment and its give-back, idempotent on the payment id (docs/internal-api.md "catalog"). Reachable
only inside the cluster (the gateway routes /api/v1 only) and only with a SERVICE token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field, StrictInt

from catalog_service.bootstrap import Deps
from catalog_service.domain.errors import PaymentNotFound
from catalog_service.domain.product import MAX_STOCK
from catalog_service.service_layer.stock_takes import StockTake
from commerce_kit.api import ApiRequest, ApiResponse, BodyId, path_id, problems
from commerce_kit.web import InternalCaller

router = APIRouter(prefix="/internal/v1", tags=["internal: orders and the payment saga"])

PaymentId = Annotated[int, path_id("paymentId")]
MAX_LINES = 100


class LookupIn(ApiRequest):
    option_ids: list[BodyId] = Field(min_length=1, max_length=MAX_LINES)


class OptionInfoOut(ApiResponse):
    option_id: int
    product_id: int
    product_name: str
    option_name: str
    price: int
    stock: int


class LookupOut(ApiResponse):
    options: list[OptionInfoOut]


class LineIn(ApiRequest):
    option_id: BodyId
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_STOCK)]


class TakeIn(ApiRequest):
    lines: list[LineIn] = Field(
        min_length=1, max_length=MAX_LINES, description="Lines of one option are added together"
    )


class TakenLineOut(ApiResponse):
    option_id: int
    product_id: int
    quantity: int
    stock_after: int = Field(
        description="The option's stock after the take; when REFUSED, the stock found;"
        " when GIVEN_BACK, the stock after the give-back"
    )


class StockTakeOut(ApiResponse):
    payment_id: int
    status: str = Field(description="TAKEN, REFUSED (an option was short), GIVEN_BACK or VOIDED")
    lines: list[TakenLineOut]
    short_option_ids: list[int] = Field(description="The options that were short, when REFUSED")


def _out(take: StockTake) -> StockTakeOut:
    return StockTakeOut(
        payment_id=take.payment_id,
        status=take.status.value,
        lines=[
            TakenLineOut(
                option_id=line.option_id,
                product_id=line.product_id,
                quantity=line.quantity,
                stock_after=line.stock_after,
            )
            for line in take.lines
        ],
        short_option_ids=list(take.short_option_ids),
    )


@router.post("/options/lookup", response_model=LookupOut, responses=problems(400, 401, 403))
async def lookup(body: LookupIn, caller: InternalCaller, deps: Deps) -> LookupOut:
    """The options that exist among `optionIds`, fresh from the database (never cached)."""
    found = await deps.stock_takes.lookup(body.option_ids)
    return LookupOut(
        options=[
            OptionInfoOut(
                option_id=o.option_id,
                product_id=o.product_id,
                product_name=o.product_name,
                option_name=o.option_name,
                price=o.price,
                stock=o.stock,
            )
            for o in found
        ]
    )


@router.put(
    "/stock-takes/{paymentId}", response_model=StockTakeOut, responses=problems(400, 401, 403, 404, 409)
)
async def take(payment_id: PaymentId, body: TakeIn, caller: InternalCaller, deps: Deps) -> StockTakeOut:
    """Take every line for this payment, or nothing (REFUSED, with `shortOptionIds`). Options are
    locked in id order; a retry answers the recorded outcome; 409 when the payment id was used with
    other lines."""
    lines = [(line.option_id, line.quantity) for line in body.lines]
    return _out(await deps.stock_takes.take(payment_id, lines))


@router.get("/stock-takes/{paymentId}", response_model=StockTakeOut, responses=problems(401, 403, 404))
async def take_outcome(payment_id: PaymentId, caller: InternalCaller, deps: Deps) -> StockTakeOut:
    found = await deps.stock_takes.outcome(payment_id)
    if found is None:
        raise PaymentNotFound(f"No stock take for payment {payment_id}")
    return _out(found)


@router.put(
    "/stock-takes/{paymentId}/give-back", response_model=StockTakeOut, responses=problems(400, 401, 403)
)
async def give_back(payment_id: PaymentId, caller: InternalCaller, deps: Deps) -> StockTakeOut:
    """Return what the payment took (a compensation or a refund), once; VOIDED when nothing was
    taken first (a late take then does nothing)."""
    return _out(await deps.stock_takes.give_back(payment_id))
