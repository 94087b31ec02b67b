"""What the payment saga calls (docs/internal-api.md "order"): read an order, mark it paid, mark it
refunded; each move idempotent on the payment id. Reachable only inside the cluster (the gateway
routes /api/v1 only) and only with a SERVICE token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, Cursor, QueryInt, path_id, problems
from commerce_kit.paging import Page
from commerce_kit.web import InternalCaller
from order_service.bootstrap import Deps
from order_service.domain.order import Order
from order_service.entrypoints.http import OrderOut, order_as

router = APIRouter(prefix="/internal/v1", tags=["internal: payment saga"])

OrderId = Annotated[int, path_id("orderId")]


class PaidRequest(ApiRequest):
    payment_id: BodyId
    paid_at: AwareDatetime


class RefundedRequest(ApiRequest):
    payment_id: BodyId


class InternalOrderOut(OrderOut):
    payment_id: int | None


def _out(order: Order) -> InternalOrderOut:
    return order_as(InternalOrderOut, order, payment_id=order.payment_id)


class PaidLineOut(ApiResponse):
    product_id: int
    product_name: str
    option_id: int
    quantity: int
    unit_price: int


class PaidOrderOut(ApiResponse):
    order_id: int
    payment_id: int
    user_id: int
    status: str
    paid_at: datetime
    refunded_at: datetime | None
    items: list[PaidLineOut]


@router.get("/orders/paid", response_model=Page[PaidOrderOut], responses=problems(400, 401, 403))
async def paid_orders(
    caller: InternalCaller,
    deps: Deps,
    cursor: Cursor = None,
    size: Annotated[QueryInt, Query(ge=1, le=1000)] = 500,
) -> Page[PaidOrderOut]:
    """Every paid (and refunded) order, oldest first, page by page: the ranking service's backfill."""
    found, next_cursor = await deps.orders.paid_orders(cursor, size)
    return Page[PaidOrderOut](
        items=[
            PaidOrderOut(
                order_id=o.id,
                payment_id=o.payment_id or 0,
                user_id=o.user_id,
                status=o.status.value,
                paid_at=o.paid_at or o.created_at,
                refunded_at=o.refunded_at,
                items=[
                    PaidLineOut(
                        product_id=line.product_id,
                        product_name=line.product_name,
                        option_id=line.option_id,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                    )
                    for line in o.lines
                ],
            )
            for o in found
        ],
        nextCursor=next_cursor,
    )


@router.get("/orders/{orderId}", response_model=InternalOrderOut, responses=problems(400, 401, 403, 404))
async def read_order(order_id: OrderId, caller: InternalCaller, deps: Deps) -> InternalOrderOut:
    """The order as the public API shows it, plus the payment that paid it."""
    return _out(await deps.orders.get(order_id))


@router.put(
    "/orders/{orderId}/paid", response_model=InternalOrderOut, responses=problems(400, 401, 403, 404, 409)
)
async def mark_paid(
    order_id: OrderId, body: PaidRequest, caller: InternalCaller, deps: Deps
) -> InternalOrderOut:
    """PENDING_PAYMENT -> PAID (OrderPaid). The same payment again answers the same; any other state,
    or another payment, is 409 INVALID_ORDER_STATE."""
    return _out(await deps.orders.paid(order_id, body.payment_id, body.paid_at))


@router.put(
    "/orders/{orderId}/refunded",
    response_model=InternalOrderOut,
    responses=problems(400, 401, 403, 404, 409),
)
async def mark_refunded(
    order_id: OrderId, body: RefundedRequest, caller: InternalCaller, deps: Deps
) -> InternalOrderOut:
    """PAID -> REFUNDED (OrderRefunded), idempotent for the payment that paid it."""
    return _out(await deps.orders.refunded(order_id, body.payment_id))
