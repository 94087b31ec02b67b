"""The public API of the coupon service (API.md "Coupons"): the admin's coupon policies and the
users' coupons. First-come-first-served issue (`/coupons/{couponId}/issue`) is in issue.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field, PlainValidator, StrictInt, StringConstraints, WithJsonSchema

from commerce_kit.api import (
    MAX_BIGINT,
    ApiRequest,
    ApiResponse,
    BodyId,
    Cursor,
    PageSize,
    Text,
    path_id,
    problems,
)
from commerce_kit.paging import Page
from commerce_kit.web import Admin, Caller
from coupon_service.bootstrap import Deps
from coupon_service.service_layer.policies import Coupon
from coupon_service.service_layer.user_coupons import Listing, UserCouponView

router = APIRouter(prefix="/api/v1", tags=["coupons"])

CouponId = Annotated[int, path_id("couponId")]
UserId = Annotated[int, path_id("userId")]

#: A strict whole number that fits bigint; the coupon rules (domain.policy) say which are allowed.
Whole = Annotated[StrictInt, Field(ge=-MAX_BIGINT, le=MAX_BIGINT)]


def _instant(value: object) -> datetime:
    # ISO-8601 text with an offset only: a time without one means a different instant on every
    # server, and a number would be guessed as seconds or milliseconds.
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an ISO-8601 date-time string, e.g. 2026-01-01T00:00:00+09:00")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time string, e.g. 2026-01-01T00:00:00+09:00") from None
    if at.utcoffset() is None:
        raise ValueError("needs a UTC offset (Z or +09:00); a time without one is ambiguous")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Instant = Annotated[
    datetime,
    PlainValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO-8601 with an offset"}),
]


class NewCoupon(ApiRequest):
    name: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    discount_type: Literal["RATE", "FIXED"]
    discount_value: Whole = Field(description="RATE: percent, 1-100; FIXED: KRW, 1-100,000,000")
    max_discount_amount: Whole | None = Field(None, description="RATE only: the discount's cap in KRW (> 0)")
    # Not checked against the catalog: no service reads another's data, and a coupon whose product
    # does not exist simply never applies to an order.
    target_product_id: BodyId | None = Field(None, description="Discount only this product's lines")
    total_quantity: Whole = Field(description="Copies that may be issued, 1-10,000,000")
    valid_days: Whole = Field(description="Days a copy stays valid after it is issued, 1-3650")
    issue_start_at: Instant | None = None
    issue_end_at: Instant | None = Field(None, description="After issueStartAt when both are given")


class CouponOut(ApiResponse):
    id: int
    name: str
    discount_type: str
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None
    total_quantity: int
    valid_days: int
    issue_start_at: datetime | None
    issue_end_at: datetime | None
    issued_quantity: int
    remaining_quantity: int
    created_at: datetime

    @classmethod
    def of(cls, coupon: Coupon) -> CouponOut:
        p = coupon.policy
        return cls(
            id=coupon.id,
            name=p.name,
            discount_type=p.discount_type.value,
            discount_value=p.discount_value,
            max_discount_amount=p.max_discount_amount,
            target_product_id=p.target_product_id,
            total_quantity=p.total_quantity,
            valid_days=p.valid_days,
            issue_start_at=p.issue_start_at,
            issue_end_at=p.issue_end_at,
            issued_quantity=coupon.issued_quantity,
            remaining_quantity=coupon.remaining_quantity,
            created_at=coupon.created_at,
        )


class UserCouponOut(ApiResponse):
    user_coupon_id: int
    coupon_id: int
    name: str
    discount_type: str
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None
    status: str = Field(description="ISSUED, USED or EXPIRED (past expiresAt)")
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None

    @classmethod
    def of(cls, view: UserCouponView) -> UserCouponOut:
        return cls.model_validate(view, from_attributes=True)


@router.post("/admin/coupons", status_code=201, response_model=CouponOut, responses=problems(400, 401, 403))
async def create_coupon(body: NewCoupon, caller: Admin, deps: Deps) -> CouponOut:
    """Define a coupon; its whole quantity is left to issue."""
    return CouponOut.of(await deps.policies.define(**body.model_dump()))


@router.get("/admin/coupons/{couponId}", response_model=CouponOut, responses=problems(400, 401, 403, 404))
async def get_coupon(coupon_id: CouponId, caller: Admin, deps: Deps) -> CouponOut:
    """A coupon with how many copies were issued and how many are left."""
    return CouponOut.of(await deps.policies.get(coupon_id))


@router.get("/users/{userId}/coupons", response_model=Page[UserCouponOut], responses=problems(400, 401, 403))
async def my_coupons(
    user_id: UserId,
    caller: Caller,
    deps: Deps,
    status: Annotated[Listing, Query(description="ISSUED: the usable ones (default); ALL: every one")] = (
        Listing.ISSUED
    ),
    size: PageSize = 20,
    cursor: Cursor = None,
) -> Page[UserCouponOut]:
    """The user's coupons, newest first."""
    caller.require_owner(user_id, admin_may=True)
    items, next_cursor = await deps.user_coupons.of_user(user_id, status, cursor, size)
    return Page[UserCouponOut](items=[UserCouponOut.of(v) for v in items], nextCursor=next_cursor)
