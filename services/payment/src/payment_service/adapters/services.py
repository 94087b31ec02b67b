"""The other services' internal APIs (docs/internal-api.md), as the saga needs them. Every call is
idempotent on the payment id; `ServiceClient` turns "down or too slow" into DependencyUnavailable and
re-raises the other service's refusals with their codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commerce_kit.auth import ServiceToken
from commerce_kit.clients import RemoteError, ServiceClient
from payment_service.settings import PaymentSettings


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    option_id: int
    quantity: int
    unit_price: int
    product_name: str | None = None


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    status: str
    pay_amount: int
    user_coupon_id: int | None
    lines: tuple[OrderLine, ...]
    payment_id: int | None


@dataclass(frozen=True)
class Outcome:
    """What a step's service answered: `ok` for done, otherwise refused with `detail`."""

    ok: bool
    detail: str = ""
    data: dict[str, Any] | None = None


class Services:
    def __init__(self, settings: PaymentSettings) -> None:
        token = ServiceToken(settings.jwt_secret, settings.service)
        timeout = settings.http_timeout_seconds

        def client(name: str) -> ServiceClient:
            return ServiceClient(name, settings.service_url(name), token, timeout=timeout, retries=2)

        self.order, self.catalog, self.user, self.coupon = (
            client(n) for n in ("order", "catalog", "user", "coupon")
        )

    async def aclose(self) -> None:
        for c in (self.order, self.catalog, self.user, self.coupon):
            await c.aclose()

    # --- order -------------------------------------------------------------------------------------

    async def load_order(self, order_id: int) -> Order | None:
        try:
            o = await self.order.get(f"/internal/v1/orders/{order_id}")
        except RemoteError as e:
            if e.status == 404:
                return None
            raise
        lines = tuple(
            OrderLine(i["productId"], i["optionId"], i["quantity"], i["unitPrice"], i.get("productName"))
            for i in o["items"]
        )
        return Order(
            o["orderId"],
            o["userId"],
            o["status"],
            o["payAmount"],
            o.get("userCouponId"),
            lines,
            o.get("paymentId"),
        )

    async def mark_order_paid(self, order_id: int, payment_id: int, paid_at: datetime) -> Outcome:
        try:
            await self.order.put(
                f"/internal/v1/orders/{order_id}/paid",
                {"paymentId": payment_id, "paidAt": paid_at.isoformat()},
            )
        except RemoteError as e:
            if e.status == 409:
                return Outcome(False, e.detail)
            raise
        return Outcome(True)

    async def mark_order_refunded(self, order_id: int, payment_id: int) -> Outcome:
        await self.order.put(f"/internal/v1/orders/{order_id}/refunded", {"paymentId": payment_id})
        return Outcome(True)

    # --- catalog -----------------------------------------------------------------------------------

    async def take_stock(self, payment_id: int, lines: tuple[OrderLine, ...]) -> Outcome:
        body = {"lines": [{"optionId": line.option_id, "quantity": line.quantity} for line in lines]}
        answer = await self.catalog.put(f"/internal/v1/stock-takes/{payment_id}", body)
        if answer["status"] == "TAKEN":
            return Outcome(True, data=answer)
        short = answer.get("shortOptionIds") or []
        return Outcome(False, f"Not enough stock for option(s) {', '.join(map(str, short))}".strip())

    async def give_back_stock(self, payment_id: int) -> Outcome:
        await self.catalog.put(f"/internal/v1/stock-takes/{payment_id}/give-back")
        return Outcome(True)

    # --- user --------------------------------------------------------------------------------------

    async def take_balance(self, payment_id: int, user_id: int, amount: int, order_id: int) -> Outcome:
        answer = await self.user.put(
            f"/internal/v1/payments/{payment_id}/debit",
            {"userId": user_id, "amount": amount, "orderId": order_id},
        )
        if answer["status"] == "TAKEN":
            return Outcome(True, data=answer)
        return Outcome(False, f"The payment needs {amount} KRW and the balance is short")

    async def give_back_balance(self, payment_id: int, user_id: int) -> Outcome:
        await self.user.put(f"/internal/v1/payments/{payment_id}/give-back", {"userId": user_id})
        return Outcome(True)

    # --- coupon ------------------------------------------------------------------------------------

    async def use_coupon(self, user_coupon_id: int, payment_id: int, user_id: int, order_id: int) -> Outcome:
        try:
            await self.coupon.put(
                f"/internal/v1/user-coupons/{user_coupon_id}/use",
                {"paymentId": payment_id, "userId": user_id, "orderId": order_id},
            )
        except RemoteError as e:
            if e.status in (404, 409):
                return Outcome(False, e.detail)
            raise
        return Outcome(True)

    async def restore_coupon(self, user_coupon_id: int, payment_id: int) -> Outcome:
        await self.coupon.put(
            f"/internal/v1/user-coupons/{user_coupon_id}/restore", {"paymentId": payment_id}
        )
        return Outcome(True)
