"""The wallet's rules (SPEC.md section 1), free of any framework or database.

Money is integer KRW. A charge must be positive, at most the single-charge limit, and must not take
the balance over the balance limit. A payment debit needs enough balance. Giving money back (a saga
compensation or a refund) always succeeds: it returns what was taken, so no limit applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from user_service.domain.errors import (
    BalanceLimitExceeded,
    ChargeLimitExceeded,
    InsufficientBalance,
    InvalidAmount,
)


class TransactionType(StrEnum):
    CHARGE = "CHARGE"
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"


@dataclass(frozen=True)
class HistoryEntry:
    """A completed payment or refund as its event tells it: the wallet history's PAYMENT or REFUND
    row, once per payment. `at` and `balance_after` are the event's; the debit recorded here, when
    there is one, knows them better (the moment the balance changed, under the wallet's lock)."""

    payment_id: int
    user_id: int
    order_id: int
    amount: int
    at: datetime
    balance_after: int | None


class DebitStatus(StrEnum):
    """What became of the debit of one payment (the saga's "take the balance" step)."""

    TAKEN = "TAKEN"  # the balance was taken
    REFUSED = "REFUSED"  # not enough balance: nothing taken, and the answer stays the same on retry
    GIVEN_BACK = "GIVEN_BACK"  # taken, then returned (compensation or refund)
    VOIDED = "VOIDED"  # given back before any debit arrived: a late debit is refused


@dataclass(frozen=True)
class WalletLimits:
    max_single_charge: int = 1_000_000
    max_balance: int = 10_000_000


@dataclass(frozen=True)
class Wallet:
    user_id: int
    balance: int

    def charge(self, amount: int, limits: WalletLimits) -> Wallet:
        if amount <= 0:
            raise InvalidAmount("The amount must be greater than 0")
        if amount > limits.max_single_charge:
            raise ChargeLimitExceeded(f"A single charge may be at most {limits.max_single_charge} KRW")
        if self.balance + amount > limits.max_balance:
            raise BalanceLimitExceeded(
                f"The balance may be at most {limits.max_balance} KRW; it is {self.balance} KRW"
            )
        return Wallet(self.user_id, self.balance + amount)

    def debit(self, amount: int) -> Wallet:
        if amount < 0:
            raise InvalidAmount("A debit cannot be negative")
        if amount > self.balance:
            raise InsufficientBalance(f"The payment needs {amount} KRW; the balance is {self.balance} KRW")
        return Wallet(self.user_id, self.balance - amount)

    def credit(self, amount: int) -> Wallet:
        if amount < 0:
            raise InvalidAmount("A credit cannot be negative")
        return Wallet(self.user_id, self.balance + amount)
