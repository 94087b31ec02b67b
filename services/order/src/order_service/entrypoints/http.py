"""The public API of the order service (API.md "Orders and payments")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Response
from pydantic import Field, StrictInt

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, Cursor, PageSize, path_id, problems
from commerce_kit.paging import Page
from commerce_kit.web import Caller
from order_service.bootstrap import Deps
from order_service.domain.order import Order
from order_service.domain.placing import RequestedLine

router = APIRouter(prefix="/api/v1", tags=["orders"])

OrderId = Annotated[int, path_id("orderId")]
UserId = Annotated[int, path_id("userId")]

MAX_LINES, MAX_QUANTITY = 50, 1000


class OrderItemIn(ApiRequest):
    product_id: BodyId
    option_id: BodyId
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class PlaceOrderRequest(ApiRequest):
    """What is bought; prices and names come from the catalog, never from here."""

    items: Annotated[
        list[OrderItemIn],
        Field(min_length=1, max_length=MAX_LINES, description=f"1-{MAX_LINES} lines, one per option"),
    ]
    user_coupon_id: BodyId | None = None


class OrderItemOut(ApiResponse):
    product_id: int
    option_id: int
    product_name: str
    option_name: str
    unit_price: int
    quantity: int
    line_amount: int


class OrderOut(ApiResponse):
    order_id: int
    user_id: int
    status: str = Field(description="PENDING_PAYMENT, PAID, CANCELLED, EXPIRED or REFUNDED")
    items: list[OrderItemOut]
    total_amount: int
    discount_amount: int
    pay_amount: int
    user_coupon_id: int | None
    created_at: datetime


AnOrderOut = TypeVar("AnOrderOut", bound=OrderOut)


def order_as(kind: type[AnOrderOut], order: Order, **more: Any) -> AnOrderOut:
    """The order as `kind` (the public answer, or one that adds to it), built in one go."""
    return kind(
        order_id=order.id,
        user_id=order.user_id,
        status=order.status.value,
        items=[
            OrderItemOut(
                product_id=line.product_id,
                option_id=line.option_id,
                product_name=line.product_name,
                option_name=line.option_name,
                unit_price=line.unit_price,
                quantity=line.quantity,
                line_amount=line.line_amount,
            )
            for line in order.lines
        ],
        total_amount=order.total_amount,
        discount_amount=order.discount_amount,
        pay_amount=order.pay_amount,
        user_coupon_id=order.user_coupon_id,
        created_at=order.created_at,
        **more,
    )


def order_out(order: Order) -> OrderOut:
    return order_as(OrderOut, order)


@router.post(
    "/orders", status_code=201, response_model=OrderOut, responses=problems(400, 401, 403, 404, 409, 503)
)
async def place_order(body: PlaceOrderRequest, caller: Caller, deps: Deps, response: Response) -> OrderOut:
    """Place an order for the caller, priced by the catalog now and discounted by the coupon; it waits
    for its payment as PENDING_PAYMENT (no stock is taken yet)."""
    order = await deps.orders.place(
        caller.user_id,
        [RequestedLine(i.product_id, i.option_id, i.quantity) for i in body.items],
        body.user_coupon_id,
    )
    response.headers["Location"] = f"/api/v1/orders/{order.id}"
    return order_out(order)


@router.get("/orders/{orderId}", response_model=OrderOut, responses=problems(400, 401, 403, 404))
async def get_order(order_id: OrderId, caller: Caller, deps: Deps) -> OrderOut:
    order = await deps.orders.get(order_id)
    caller.require_owner(order.user_id, admin_may=True)
    return order_out(order)


@router.get("/users/{userId}/orders", response_model=Page[OrderOut], responses=problems(400, 401, 403))
async def orders_of_user(
    user_id: UserId, caller: Caller, deps: Deps, size: PageSize = 20, cursor: Cursor = None
) -> Page[OrderOut]:
    """The user's orders, newest first."""
    caller.require_owner(user_id, admin_may=True)
    found, next_cursor = await deps.orders.of_user(user_id, cursor, size)
    return Page[OrderOut](items=[order_out(o) for o in found], nextCursor=next_cursor)


@router.post("/orders/{orderId}/cancel", response_model=OrderOut, responses=problems(400, 401, 403, 404, 409))
async def cancel_order(order_id: OrderId, caller: Caller, deps: Deps) -> OrderOut:
    """The owner cancels an order: an unpaid one is cancelled; a paid one is refunded (stock, balance
    and coupon given back), or answered 503 while its refund completes on its own."""
    return order_out(await deps.orders.cancel(order_id, caller.user_id))
