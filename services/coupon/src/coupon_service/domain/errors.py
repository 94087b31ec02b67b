"""The coupon service's errors, with the codes of API.md."""

from commerce_kit.errors import AppError, Conflict, NotFound


class InvalidCoupon(AppError):
    code, title = "VALIDATION_FAILED", "The coupon is not valid"


class CouponNotFound(NotFound):
    code, title = "COUPON_NOT_FOUND", "No such coupon"


class CouponUnavailable(Conflict):
    code, title = "COUPON_UNAVAILABLE", "The coupon cannot be used"


class CouponSoldOut(Conflict):
    code, title = "COUPON_SOLD_OUT", "The coupon is sold out"


class CouponNotIssuable(Conflict):
    code, title = "COUPON_NOT_ISSUABLE", "The coupon cannot be requested now"


class ReservationNotFound(NotFound):
    code, title = "RESERVATION_NOT_FOUND", "No such reservation"
