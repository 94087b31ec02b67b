"""What the order service and the payment saga call (docs/internal-api.md "coupon"): read a user
coupon, use it for a payment and give it back, idempotent on the payment id. Reachable only inside
the cluster (the gateway routes /api/v1 only) and only with a SERVICE token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from commerce_kit.api import ApiRequest, ApiResponse, BodyId, path_id, problems
from commerce_kit.web import InternalCaller
from coupon_service.bootstrap import Deps
from coupon_service.service_layer.user_coupons import UserCouponView

router = APIRouter(prefix="/internal/v1", tags=["internal: orders and the payment saga"])

UserCouponId = Annotated[int, path_id("userCouponId")]


class UseRequest(ApiRequest):
    payment_id: BodyId
    user_id: BodyId
    order_id: BodyId


class RestoreRequest(ApiRequest):
    payment_id: BodyId


class UserCouponDetail(ApiResponse):
    user_coupon_id: int
    user_id: int
    coupon_id: int
    name: str
    status: str = Field(description="ISSUED, USED or EXPIRED (past expiresAt)")
    discount_type: str
    discount_value: int
    max_discount_amount: int | None
    target_product_id: int | None
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by_payment_id: int | None
    order_id: int | None


class UseOut(ApiResponse):
    user_coupon_id: int
    status: str
    used_by_payment_id: int | None
    order_id: int | None
    used_at: datetime | None


class RestoreOut(UseOut):
    outcome: str = Field(
        description="RESTORED: this payment's use is given back; VOIDED: it had not used the coupon,"
        " and a later use by it is refused; UNCHANGED: the payment is bound to another coupon"
    )


def _use_out(view: UserCouponView) -> dict[str, Any]:
    return {
        "user_coupon_id": view.user_coupon_id,
        "status": view.status.value,
        "used_by_payment_id": view.used_by_payment_id,
        "order_id": view.order_id,
        "used_at": view.used_at,
    }


@router.get(
    "/user-coupons/{userCouponId}", response_model=UserCouponDetail, responses=problems(401, 403, 404)
)
async def user_coupon(user_coupon_id: UserCouponId, caller: InternalCaller, deps: Deps) -> UserCouponDetail:
    return UserCouponDetail.model_validate(await deps.user_coupons.get(user_coupon_id), from_attributes=True)


@router.put("/user-coupons/{userCouponId}/use", response_model=UseOut, responses=problems(400, 401, 403, 409))
async def use(user_coupon_id: UserCouponId, body: UseRequest, caller: InternalCaller, deps: Deps) -> UseOut:
    """Mark the coupon USED by this payment, once; the same payment again gets the same answer.
    409 COUPON_UNAVAILABLE when it is not the user's, not ISSUED, expired or used by another payment."""
    view = await deps.user_coupons.use(user_coupon_id, body.payment_id, body.user_id, body.order_id)
    return UseOut(**_use_out(view))


@router.put(
    "/user-coupons/{userCouponId}/restore",
    response_model=RestoreOut,
    responses=problems(400, 401, 403, 404),
)
async def restore(
    user_coupon_id: UserCouponId, body: RestoreRequest, caller: InternalCaller, deps: Deps
) -> RestoreOut:
    """Give the coupon back when this payment used it (a compensation or a refund), once; it is
    shown EXPIRED when past its expiry. Any other payment changes nothing."""
    view, outcome = await deps.user_coupons.restore(user_coupon_id, body.payment_id)
    return RestoreOut(**_use_out(view), outcome=outcome.value)
