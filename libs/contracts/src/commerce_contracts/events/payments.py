"""Topics `payment-completed` and `payment-refunded`, keyed by order id."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, AliasGenerator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commerce_contracts.envelope import Event


def _either_spelling(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class PaidLine(BaseModel):
    """A line of a paid order, as the order snapshotted it: the one form of a line on the payment path,
    from the order service's answer (which spells its fields in camelCase, `productId`, so they are read
    in either spelling) through the payment saga's stored state to the payment events (snake_case, as
    written here)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=AliasGenerator(validation_alias=_either_spelling)
    )
    product_id: int = Field(ge=1)
    option_id: int = Field(ge=1)
    quantity: int = Field(ge=1)
    unit_price: int = Field(ge=0)
    product_name: str | None = Field(default=None, description="As snapshotted by the order (added in 1.1)")


class _PaymentEvent(Event):
    payment_id: int = Field(ge=1)
    order_id: int = Field(ge=1)
    user_id: int = Field(ge=1)
    amount: int = Field(ge=0, description="KRW actually moved: the order's pay amount.")
    items: tuple[PaidLine, ...] = Field(min_length=1)

    @property
    def key(self) -> str:
        return str(self.order_id)


class PaymentCompleted(_PaymentEvent):
    """A payment saga finished: stock and balance taken, coupon used, order paid."""

    type: Literal["PaymentCompleted"] = "PaymentCompleted"
    user_coupon_id: int | None = None
    balance_after: int | None = Field(default=None, ge=0, description="The wallet after the debit.")
    paid_at: AwareDatetime


class PaymentRefunded(_PaymentEvent):
    """A paid order was refunded: stock, balance and coupon given back."""

    type: Literal["PaymentRefunded"] = "PaymentRefunded"
    balance_after: int | None = Field(default=None, ge=0, description="The wallet after the credit.")
    paid_at: AwareDatetime
    refunded_at: AwareDatetime
