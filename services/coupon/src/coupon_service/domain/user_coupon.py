"""A user coupon (SPEC.md section 3): one issued copy of a policy, and its life.

    ISSUED --use(payment)--> USED --restore(same payment)--> ISSUED

Only ISSUED and USED are stored. EXPIRED is what an ISSUED copy is once its validity is over; it is
computed whenever the coupon is read, so no job has to run at the right moment for it to be true. A
copy is valid in the half-open interval [issued_at, expires_at): at `expires_at` itself it is expired.
A USED copy stays USED after its expiry (the order that used it was paid in time); a copy restored
after its expiry is ISSUED in storage and shown EXPIRED.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from coupon_service.domain.errors import CouponUnavailable
from coupon_service.domain.policy import CouponPolicy, Snapshot


class CouponStatus(StrEnum):
    ISSUED = "ISSUED"
    USED = "USED"
    EXPIRED = "EXPIRED"  # shown, never stored


@dataclass(frozen=True)
class UserCoupon:
    id: int | None  # None until stored
    user_id: int
    coupon_id: int
    terms: Snapshot
    stored_status: CouponStatus  # ISSUED or USED
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by_payment_id: int | None = None
    order_id: int | None = None

    @classmethod
    def issue(cls, policy: CouponPolicy, coupon_id: int, user_id: int, at: datetime) -> UserCoupon:
        return cls(
            None,
            user_id,
            coupon_id,
            policy.snapshot(),
            CouponStatus.ISSUED,
            at,
            policy.expiry_of_copy_issued_at(at),
        )

    def expired_at(self, now: datetime) -> bool:
        return now >= self.expires_at

    def status_at(self, now: datetime) -> CouponStatus:
        if self.stored_status is CouponStatus.USED:
            return CouponStatus.USED
        return CouponStatus.EXPIRED if self.expired_at(now) else CouponStatus.ISSUED

    def usable_by(self, user_id: int, now: datetime) -> bool:
        return self.user_id == user_id and self.status_at(now) is CouponStatus.ISSUED

    def use(self, payment_id: int, user_id: int, order_id: int, now: datetime) -> UserCoupon:
        """This copy, used by `payment_id`; the same copy when that payment already used it."""
        if self.user_id != user_id:
            raise CouponUnavailable(f"User coupon {self.id} is not user {user_id}'s")
        if self.stored_status is CouponStatus.USED:
            if self.used_by_payment_id == payment_id and self.order_id == order_id:
                return self
            raise CouponUnavailable(f"User coupon {self.id} was already used")
        if self.expired_at(now):
            raise CouponUnavailable(f"User coupon {self.id} expired at {self.expires_at.isoformat()}")
        return replace(
            self,
            stored_status=CouponStatus.USED,
            used_at=now,
            used_by_payment_id=payment_id,
            order_id=order_id,
        )

    def restore(self, payment_id: int) -> UserCoupon:
        """This copy given back by `payment_id` (a compensation or a refund). Only the payment that
        used it may give it back; for any other payment nothing changes."""
        if self.stored_status is not CouponStatus.USED or self.used_by_payment_id != payment_id:
            return self
        return replace(
            self, stored_status=CouponStatus.ISSUED, used_at=None, used_by_payment_id=None, order_id=None
        )
