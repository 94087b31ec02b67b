"""The order service's paid orders (`GET /internal/v1/orders/paid`), page by page, as sales: what
the backfill reads when the ranking starts empty. `ServiceClient` brings the service token, short
timeouts and retries; a page that does not match the contract fails the backfill loudly."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import urlencode

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commerce_kit.clients import ServiceClient
from ranking_service.domain.sales import Line, Sale

log = logging.getLogger(__name__)


class _Model(BaseModel):
    # Tolerant of fields added later (API.md: "more fields may be added").
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", frozen=True)


class PaidOrderLine(_Model):
    product_id: int = Field(ge=1)
    product_name: str | None = None
    quantity: int = Field(ge=1)


class PaidOrder(_Model):
    order_id: int = Field(ge=1)
    payment_id: int = Field(ge=0, description="0 when the order service lost it (never for a real payment)")
    user_id: int = Field(ge=1)
    status: Literal["PAID", "REFUNDED"]
    paid_at: AwareDatetime
    refunded_at: AwareDatetime | None = None
    items: tuple[PaidOrderLine, ...] = Field(min_length=1)

    def sale(self) -> Sale:
        refunded_at = None
        if self.status == "REFUNDED":
            # The ranking only needs to know that it was refunded; the time is for the record.
            refunded_at = self.refunded_at or self.paid_at
        lines = tuple(Line(i.product_id, i.quantity, i.product_name) for i in self.items)
        return Sale(self.payment_id, self.order_id, self.user_id, self.paid_at, lines, refunded_at)


class PaidOrdersPage(_Model):
    items: tuple[PaidOrder, ...]
    next_cursor: str | None = None


class PaidOrders:
    PATH = "/internal/v1/orders/paid"

    def __init__(self, client: ServiceClient, page_size: int = 500) -> None:
        self.client, self.page_size = client, page_size

    async def page(self, cursor: str | None) -> tuple[list[Sale], str | None]:
        """One page of sales and the cursor of the next (None after the last page)."""
        query = {"size": self.page_size} | ({"cursor": cursor} if cursor else {})
        answer = PaidOrdersPage.model_validate(await self.client.get(f"{self.PATH}?{urlencode(query)}"))
        next_cursor = answer.next_cursor or None
        if next_cursor is not None and next_cursor == cursor:
            raise ValueError(f"the order service answered the cursor it was given ({cursor!r}): no progress")
        # A sale is keyed by its payment: an order without one cannot be stored (nor counted twice).
        unkeyed = [order.order_id for order in answer.items if order.payment_id == 0]
        if unkeyed:
            log.warning("backfill: paid orders without a payment id skipped: %s", unkeyed)
        return [order.sale() for order in answer.items if order.payment_id > 0], next_cursor
