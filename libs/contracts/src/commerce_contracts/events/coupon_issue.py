"""Topic `coupon-issue`: first-come-first-served coupon requests, keyed by coupon id so that the
requests for one coupon are settled in arrival order on one partition."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from commerce_contracts.envelope import Event


class CouponIssueRequested(Event):
    """A user asked for a copy of a coupon; the API answered 202 with `reservation_id`."""

    type: Literal["CouponIssueRequested"] = "CouponIssueRequested"
    reservation_id: str = Field(min_length=1, max_length=64)
    user_id: int = Field(ge=1)
    coupon_id: int = Field(ge=1)
    requested_at: AwareDatetime

    @property
    def key(self) -> str:
        return str(self.coupon_id)
