"""What a payment did with a user coupon: the payment saga's "use the coupon" step and its
compensation, idempotent on the payment id (docs/internal-api.md).

One record per payment id (a payment uses at most one coupon):

    (none) --use--> USED --restore--> RESTORED
    (none) --restore--> VOIDED

A retried use of the same payment answers what the first one did and changes nothing. A restore that
arrives before its use (the use's request was slow, the saga gave up and compensated) leaves a VOIDED
tombstone so that the late use is refused instead of consuming the coupon of a failed payment. A
payment that gave its coupon back never takes it again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from coupon_service.domain.errors import CouponUnavailable
from coupon_service.domain.user_coupon import UserCoupon


class StepStatus(StrEnum):
    USED = "USED"
    RESTORED = "RESTORED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class PaymentStep:
    payment_id: int
    user_coupon_id: int
    status: StepStatus


def use(
    coupon: UserCoupon,
    step: PaymentStep | None,
    *,
    payment_id: int,
    user_id: int,
    order_id: int,
    now: datetime,
) -> tuple[UserCoupon, PaymentStep]:
    """The coupon used by the payment and the step recorded, or `CouponUnavailable`."""
    assert coupon.id is not None, "only a stored coupon is used"
    if step is not None:
        if step.user_coupon_id != coupon.id:
            raise CouponUnavailable(f"Payment {payment_id} is bound to another user coupon")
        if step.status is StepStatus.VOIDED:
            raise CouponUnavailable(f"Payment {payment_id} was given back before it used the coupon")
        if step.status is StepStatus.RESTORED:
            raise CouponUnavailable(f"Payment {payment_id} already gave the coupon back")
        # USED: a retry. The coupon itself answers it (the same values give the same coupon).
    return coupon.use(payment_id, user_id, order_id, now), PaymentStep(payment_id, coupon.id, StepStatus.USED)


def restore(
    coupon: UserCoupon, step: PaymentStep | None, *, payment_id: int
) -> tuple[UserCoupon, PaymentStep]:
    """The coupon and the payment's step after the payment gives the coupon back. Nothing changes
    when the payment's step concerns another coupon, or when it already ended."""
    assert coupon.id is not None, "only a stored coupon is restored"
    if step is None:
        return coupon, PaymentStep(payment_id, coupon.id, StepStatus.VOIDED)
    if step.user_coupon_id != coupon.id or step.status is not StepStatus.USED:
        return coupon, step
    return coupon.restore(payment_id), replace(step, status=StepStatus.RESTORED)
