"""The payment service's errors, with the codes of API.md."""

from commerce_kit.errors import Conflict, NotFound


class PaymentNotFound(NotFound):
    code, title = "PAYMENT_NOT_FOUND", "No such payment"


class OrderNotFound(NotFound):
    code, title = "ORDER_NOT_FOUND", "No such order"


class InvalidOrderState(Conflict):
    code, title = "INVALID_ORDER_STATE", "The order cannot be paid in its current state"


class InsufficientStock(Conflict):
    code, title = "INSUFFICIENT_STOCK", "Not enough stock"


class InsufficientBalance(Conflict):
    code, title = "INSUFFICIENT_BALANCE", "The balance is too low"


class CouponUnavailable(Conflict):
    code, title = "COUPON_UNAVAILABLE", "The coupon cannot be used"


#: How a saga's failure code is answered (the 409s of SPEC.md section 5).
FAILURES: dict[str, type[Conflict]] = {
    e.code: e for e in (InvalidOrderState, InsufficientStock, InsufficientBalance, CouponUnavailable)
}
