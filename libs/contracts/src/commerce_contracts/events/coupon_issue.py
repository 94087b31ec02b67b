"""Topic `coupon-issue`: first-come-first-served coupon requests, keyed by coupon id so that the
requests for one coupon are settled in arrival order on one partition."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import orjson
from pydantic import AwareDatetime, Field

from commerce_contracts.envelope import Event, utc_now


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


def encode_issue_requested(
    *, reservation_id: str, user_id: int, coupon_id: int, requested_at: datetime
) -> bytes:
    """The bytes `encode_event(CouponIssueRequested(...))` writes for a new request (a fresh event id,
    occurred now), written directly: on the issue route, the hottest path of a sale day, building,
    validating and serializing the model would cost more than the rest of its own work. Its values
    are its own (a reservation id it made, a user from a verified token, a coupon id from a checked
    path). tests/test_contracts.py holds this to the model's bytes, and decodes it back."""
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": utc_now(),
            "type": "CouponIssueRequested",
            "version": 1,
            "correlation_id": None,
            "causation_id": None,
            "reservation_id": reservation_id,
            "user_id": user_id,
            "coupon_id": coupon_id,
            "requested_at": requested_at,
        },
        option=orjson.OPT_UTC_Z,
    )
