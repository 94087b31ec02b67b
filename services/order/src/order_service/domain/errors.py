"""The order service's errors, with the codes of API.md."""

from commerce_kit.errors import Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    code, title = "ORDER_NOT_FOUND", "No such order"


class ProductNotFound(NotFound):
    code, title = "PRODUCT_NOT_FOUND", "No such product"


class OptionNotFound(NotFound):
    code, title = "OPTION_NOT_FOUND", "No such option of this product"


class InsufficientStock(Conflict):
    code, title = "INSUFFICIENT_STOCK", "Not enough stock"


class CouponUnavailable(Conflict):
    code, title = "COUPON_UNAVAILABLE", "The coupon cannot be used"


class CouponNotApplicable(Conflict):
    code, title = "COUPON_NOT_APPLICABLE", "The coupon applies to nothing in this order"


class InvalidOrderState(Conflict):
    code, title = "INVALID_ORDER_STATE", "The order's state does not allow this"


class DuplicateOption(ValidationFailed):
    title = "Each option may appear on one line only"


class OrderTooLarge(ValidationFailed):
    title = "The order's total is too large"
