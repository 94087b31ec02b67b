"""The coupon service's internal API, as the order service uses it (docs/internal-api.md "coupon"):
`GET /internal/v1/user-coupons/{userCouponId}` gives one user coupon with its terms and status."""

from __future__ import annotations

import logging

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commerce_kit.clients import RemoteError, ServiceClient
from commerce_kit.errors import DependencyUnavailable
from order_service.adapters.remote import answer_of, parsed
from order_service.domain.order import CouponTerms, DiscountType
from order_service.domain.placing import UserCoupon

log = logging.getLogger(__name__)

SERVICE = "coupon"


class _UserCoupon(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore")
    user_coupon_id: int = Field(ge=1)
    user_id: int = Field(ge=1)
    coupon_id: int = Field(ge=1)
    status: str
    discount_type: DiscountType
    discount_value: int
    max_discount_amount: int | None = None
    target_product_id: int | None = None
    expires_at: AwareDatetime | None = None


class Coupons:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def user_coupon(self, user_coupon_id: int) -> UserCoupon | None:
        """The user coupon, or None when the coupon service knows no such id."""
        try:
            answer = await answer_of(SERVICE, self._client.get(f"/internal/v1/user-coupons/{user_coupon_id}"))
        except RemoteError as refused:
            if refused.status == 404:
                return None
            raise
        found = parsed(SERVICE, _UserCoupon, answer)
        try:
            terms = CouponTerms(
                found.discount_type, found.discount_value, found.max_discount_amount, found.target_product_id
            )
        except ValueError as exc:  # terms no coupon may have: the coupon service's fault, not the user's
            log.error("user coupon %d has terms we cannot apply: %s", user_coupon_id, exc)
            raise DependencyUnavailable("The coupon service gave terms that cannot be applied") from exc
        return UserCoupon(
            found.user_coupon_id, found.user_id, found.coupon_id, found.status, terms, found.expires_at
        )
