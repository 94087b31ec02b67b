"""The wallet's rules, without any infrastructure."""

import pytest

from user_service.domain.errors import (
    BalanceLimitExceeded,
    ChargeLimitExceeded,
    InsufficientBalance,
    InvalidAmount,
)
from user_service.domain.wallet import Wallet, WalletLimits

LIMITS = WalletLimits(max_single_charge=1_000_000, max_balance=10_000_000)


def test_a_charge_adds_the_amount():
    assert Wallet(1, 500).charge(1_000, LIMITS).balance == 1_500


@pytest.mark.parametrize("amount", [0, -1, -1_000_000])
def test_a_charge_must_be_positive(amount):
    with pytest.raises(InvalidAmount):
        Wallet(1, 0).charge(amount, LIMITS)


def test_a_charge_may_reach_the_single_charge_limit_exactly():
    assert Wallet(1, 0).charge(1_000_000, LIMITS).balance == 1_000_000


@pytest.mark.parametrize("amount", [1_000_001, 2**63, 10**30])
def test_a_charge_above_the_single_charge_limit_is_refused(amount):
    with pytest.raises(ChargeLimitExceeded) as refused:
        Wallet(1, 0).charge(amount, LIMITS)
    assert refused.value.status == 422 and refused.value.code == "CHARGE_LIMIT_EXCEEDED"


def test_a_charge_may_fill_the_balance_up_to_its_limit():
    assert Wallet(1, 9_000_000).charge(1_000_000, LIMITS).balance == 10_000_000


def test_a_charge_past_the_balance_limit_is_refused():
    with pytest.raises(BalanceLimitExceeded) as refused:
        Wallet(1, 9_500_000).charge(500_001, LIMITS)
    assert refused.value.code == "BALANCE_LIMIT_EXCEEDED"


def test_limits_are_configurable():
    small = WalletLimits(max_single_charge=100, max_balance=150)
    assert Wallet(1, 50).charge(100, small).balance == 150
    with pytest.raises(ChargeLimitExceeded):
        Wallet(1, 0).charge(101, small)


def test_a_debit_takes_the_amount():
    assert Wallet(1, 1_000).debit(1_000).balance == 0


def test_a_debit_larger_than_the_balance_is_refused():
    with pytest.raises(InsufficientBalance) as refused:
        Wallet(1, 999).debit(1_000)
    assert refused.value.status == 409


def test_a_credit_ignores_the_balance_limit_because_it_returns_money_already_ours():
    assert Wallet(1, 10_000_000).credit(5_000).balance == 10_005_000


def test_the_wallet_is_immutable():
    wallet = Wallet(1, 10)
    wallet.charge(5, LIMITS)
    assert wallet.balance == 10
