"""The catalog service's errors, with the codes of API.md."""

from commerce_kit.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    code, title = "PRODUCT_NOT_FOUND", "No such product"


class OptionNotFound(NotFound):
    code, title = "OPTION_NOT_FOUND", "No such option"


class PaymentNotFound(NotFound):
    code, title = "PAYMENT_NOT_FOUND", "No stock take for this payment"


class InvalidStock(ValidationFailed):
    title = "The stock or quantity is not valid"


class PaymentMismatch(Conflict):
    # The user service answers a reused payment id the same way (409, INVALID_ORDER_STATE).
    code, title = "INVALID_ORDER_STATE", "This payment id was already used with other lines"
