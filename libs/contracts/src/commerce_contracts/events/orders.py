"""Topic `order-events`: the life of an order, keyed by order id."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from commerce_contracts.envelope import Event


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    product_id: int = Field(ge=1)
    option_id: int = Field(ge=1)
    quantity: int = Field(ge=1)
    unit_price: int = Field(ge=0)


class _OrderEvent(Event):
    order_id: int = Field(ge=1)
    user_id: int = Field(ge=1)

    @property
    def key(self) -> str:
        return str(self.order_id)


class OrderPlaced(_OrderEvent):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    total_amount: int = Field(ge=0)
    discount_amount: int = Field(ge=0)
    pay_amount: int = Field(ge=0)
    user_coupon_id: int | None = None
    placed_at: AwareDatetime


class OrderPaid(_OrderEvent):
    type: Literal["OrderPaid"] = "OrderPaid"
    payment_id: int = Field(ge=1)
    paid_at: AwareDatetime


class OrderCancelled(_OrderEvent):
    """An unpaid order was cancelled by its owner."""

    type: Literal["OrderCancelled"] = "OrderCancelled"
    cancelled_at: AwareDatetime


class OrderExpired(_OrderEvent):
    """An order left unpaid for too long."""

    type: Literal["OrderExpired"] = "OrderExpired"
    expired_at: AwareDatetime


class OrderRefunded(_OrderEvent):
    type: Literal["OrderRefunded"] = "OrderRefunded"
    payment_id: int = Field(ge=1)
    refunded_at: AwareDatetime
