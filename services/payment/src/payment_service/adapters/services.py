"""The other services' internal APIs (docs/internal-api.md), as the saga needs them. Every call is
idempotent on the payment id; `ServiceClient` turns "down or too slow" into DependencyUnavailable and
re-raises the other service's refusals with their codes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from commerce_contracts.events.payments import PaidLine
from commerce_kit.auth import ServiceToken
from commerce_kit.clients import RemoteError, ServiceClient
from commerce_kit.errors import DependencyUnavailable
from payment_service.settings import PaymentSettings

log = logging.getLogger(__name__)


class _Answer(BaseModel):
    """Another service's answer (camelCase, as every internal API spells it; fields it adds are
    ignored). Built by field name too, as a test's stand-in for the other service."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, extra="ignore", frozen=True)


class Order(_Answer):
    """The order to pay, as the order service's internal read answers it; its lines are `PaidLine`s
    from here to the payment events."""

    order_id: int
    user_id: int
    status: str
    pay_amount: int
    user_coupon_id: int | None = None
    items: tuple[PaidLine, ...]
    payment_id: int | None = None


class _StockTake(_Answer):
    status: str
    short_option_ids: tuple[int, ...] = ()


class _Debit(_Answer):
    status: str
    balance_after: int | None = None


A = TypeVar("A", bound=_Answer)


def _parsed(service: str, kind: type[A], answer: Any) -> A:
    """The answer in the shape the internal API promises. Anything else is no usable answer (the
    other service's fault): the caller gets 503, the saga sends the same step again later."""
    try:
        return kind.model_validate(answer)
    except ValidationError as exc:
        log.error("unexpected answer from the %s service: %s", service, exc)
        raise DependencyUnavailable(f"The {service} service gave an unexpected answer") from exc


@dataclass(frozen=True)
class Outcome:
    """What a step's service answered: `ok` for done, otherwise refused with `detail`; a debit also
    tells the balance it left."""

    ok: bool
    detail: str = ""
    balance_after: int | None = None


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
            answer = await self.order.get(f"/internal/v1/orders/{order_id}")
        except RemoteError as e:
            if e.status == 404:
                return None
            raise
        return _parsed("order", Order, answer)

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

    async def take_stock(self, payment_id: int, lines: tuple[PaidLine, ...]) -> Outcome:
        body = {"lines": [{"optionId": line.option_id, "quantity": line.quantity} for line in lines]}
        answer = _parsed(
            "catalog", _StockTake, await self.catalog.put(f"/internal/v1/stock-takes/{payment_id}", body)
        )
        if answer.status == "TAKEN":
            return Outcome(True)
        short = ", ".join(map(str, answer.short_option_ids))
        return Outcome(False, f"Not enough stock for option(s) {short}".strip())

    async def give_back_stock(self, payment_id: int) -> Outcome:
        await self.catalog.put(f"/internal/v1/stock-takes/{payment_id}/give-back")
        return Outcome(True)

    # --- user --------------------------------------------------------------------------------------

    async def take_balance(self, payment_id: int, user_id: int, amount: int, order_id: int) -> Outcome:
        answer = _parsed(
            "user",
            _Debit,
            await self.user.put(
                f"/internal/v1/payments/{payment_id}/debit",
                {"userId": user_id, "amount": amount, "orderId": order_id},
            ),
        )
        if answer.status == "TAKEN":
            return Outcome(True, balance_after=answer.balance_after)
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
