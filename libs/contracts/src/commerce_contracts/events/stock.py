"""Topic `stock-events`: every change of an option's stock, one event per option, keyed by option id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from commerce_contracts.envelope import Event


class _StockEvent(Event):
    product_id: int = Field(ge=1)
    option_id: int = Field(ge=1)
    stock_after: int = Field(ge=0, description="The option's stock once the change is applied.")

    @property
    def key(self) -> str:
        return str(self.option_id)


class StockTaken(_StockEvent):
    """Stock was taken for a payment (a payment's lines are taken all together or not at all)."""

    type: Literal["StockTaken"] = "StockTaken"
    payment_id: int = Field(ge=1)
    quantity: int = Field(ge=1)


class StockGivenBack(_StockEvent):
    """Stock taken for a payment was given back: a saga compensation or a refund."""

    type: Literal["StockGivenBack"] = "StockGivenBack"
    payment_id: int = Field(ge=1)
    quantity: int = Field(ge=1)


class StockSet(_StockEvent):
    """An admin set the option's stock to `stock_after`."""

    type: Literal["StockSet"] = "StockSet"
