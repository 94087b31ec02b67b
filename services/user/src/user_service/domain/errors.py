"""The user service's errors, with the codes of API.md."""

from commerce_kit.errors import AppError, Conflict, NotFound, Unprocessable


class UserNotFound(NotFound):
    code, title = "USER_NOT_FOUND", "No such user"


class InvalidAmount(AppError):
    code, title = "VALIDATION_FAILED", "The amount must be a positive whole number of KRW"


class ChargeLimitExceeded(Unprocessable):
    code, title = "CHARGE_LIMIT_EXCEEDED", "The amount is above the single-charge limit"


class BalanceLimitExceeded(Unprocessable):
    code, title = "BALANCE_LIMIT_EXCEEDED", "The balance would exceed its limit"


class InsufficientBalance(Conflict):
    code, title = "INSUFFICIENT_BALANCE", "The balance is too low"


class PaymentMismatch(Conflict):
    code, title = "INVALID_ORDER_STATE", "This payment id was already used with other values"
