"""The order, free of any framework or database: its price snapshot and its life as a guarded state
machine (SPEC.md section 4).

    PENDING_PAYMENT --pay--> PAID --refund--> REFUNDED
          |--cancel--> CANCELLED
          '--expire--> EXPIRED

Any other move is refused with INVALID_ORDER_STATE. A move repeated for the same payment (the saga
retrying a step whose answer it lost) changes nothing and returns the order as it is: callers tell
"changed" from "already so" by identity (`moved is order`), and write and announce only a change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from order_service.domain.errors import InvalidOrderState


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"  # the seed's BEFORE_PAYMENT
    PAID = "PAID"  # the seed's AFTER_PAYMENT
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"


MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.PAID: frozenset({OrderStatus.REFUNDED}),
}


class DiscountType(StrEnum):
    RATE = "RATE"  # percent of the applicable amount, floored, optionally capped
    FIXED = "FIXED"  # KRW, at most the applicable amount


@dataclass(frozen=True)
class OrderLine:
    """One line of the price snapshot: names and price as the catalog gave them when ordered."""

    product_id: int
    option_id: int
    product_name: str
    option_name: str
    unit_price: int
    quantity: int

    @property
    def line_amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class CouponTerms:
    """A coupon's discount terms, as the coupon service gave them when the order was placed."""

    discount_type: DiscountType
    discount_value: int
    max_discount_amount: int | None = None
    target_product_id: int | None = None  # None: the whole order

    def __post_init__(self) -> None:
        if self.discount_type is DiscountType.RATE and not 1 <= self.discount_value <= 100:
            raise ValueError(f"a RATE coupon's percent must be 1-100, not {self.discount_value}")
        if self.discount_value < 0 or (self.max_discount_amount is not None and self.max_discount_amount < 0):
            raise ValueError("a coupon's amounts cannot be negative")


@dataclass(frozen=True)
class AppliedCoupon:
    """The user coupon an order uses, and a snapshot of its terms."""

    user_coupon_id: int
    coupon_id: int
    terms: CouponTerms


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    total_amount: int
    discount_amount: int
    pay_amount: int
    coupon: AppliedCoupon | None
    payment_id: int | None
    created_at: datetime
    paid_at: datetime | None = None
    refunded_at: datetime | None = None

    @property
    def user_coupon_id(self) -> int | None:
        return self.coupon.user_coupon_id if self.coupon else None

    def pay(self, payment_id: int) -> Order:
        if self.status is OrderStatus.PAID and self.payment_id == payment_id:
            return self  # the saga repeating its step
        return self._move(OrderStatus.PAID, payment_id=payment_id)

    def refund(self, payment_id: int) -> Order:
        if self.status in (OrderStatus.PAID, OrderStatus.REFUNDED) and self.payment_id != payment_id:
            raise InvalidOrderState(
                f"Order {self.id} was paid by payment {self.payment_id}, not by payment {payment_id}"
            )
        if self.status is OrderStatus.REFUNDED:
            return self  # the refund repeated
        return self._move(OrderStatus.REFUNDED)

    def cancel(self) -> Order:
        return self._move(OrderStatus.CANCELLED)

    def expire(self) -> Order:
        return self._move(OrderStatus.EXPIRED)

    def _move(self, to: OrderStatus, *, payment_id: int | None = None) -> Order:
        if to not in MOVES.get(self.status, frozenset()):
            raise InvalidOrderState(f"Order {self.id} is {self.status.value}; it cannot become {to.value}")
        return replace(self, status=to, payment_id=payment_id or self.payment_id)
