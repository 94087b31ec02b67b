"""Use cases of the user service. Each opens one transaction and leaves the rules to the domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from commerce_kit import idempotency
from commerce_kit.errors import AppError
from commerce_kit.paging import decode_cursor, page_of
from user_service.adapters import repository as repo
from user_service.domain.errors import InsufficientBalance, PaymentMismatch, UserNotFound
from user_service.domain.wallet import DebitStatus, HistoryEntry, TransactionType, Wallet, WalletLimits


@dataclass(frozen=True)
class User:
    id: int
    name: str


@dataclass(frozen=True)
class Transaction:
    id: int
    type: str
    amount: int
    balance_after: int
    order_id: int | None
    payment_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Debit:
    """The outcome of one payment's debit, the same on every retry."""

    payment_id: int
    user_id: int
    amount: int
    status: DebitStatus
    balance_after: int | None


class Wallets:
    def __init__(self, pool: asyncpg.Pool, limits: WalletLimits) -> None:
        self.pool, self.limits = pool, limits

    async def register(self, name: str) -> User:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.insert_user(conn, name)
        return User(row["id"], row["name"])

    async def balance(self, user_id: int) -> int:
        async with self.pool.acquire() as conn:
            wallet = await repo.wallet(conn, user_id)
        if wallet is None:
            raise UserNotFound(f"User {user_id} does not exist")
        return wallet.balance

    async def charge(self, user_id: int, amount: int, key: str | None) -> idempotency.StoredAnswer:
        """Charge the wallet and write its CHARGE row in one transaction. With an Idempotency-Key the
        answer, success or refusal, is stored in that same transaction and replayed on retry."""
        async with self.pool.acquire() as conn, conn.transaction():
            if key is not None:
                print_ = idempotency.fingerprint("charge", {"userId": user_id, "amount": amount})
                stored = await idempotency.claim(conn, user_id, key, print_)
                if stored is not None:
                    return stored
            try:
                async with conn.transaction():  # a savepoint: a refusal undoes the charge, not the key
                    answer = idempotency.StoredAnswer(200, await self._charge(conn, user_id, amount))
            except AppError as refused:
                if key is None:
                    raise
                answer = idempotency.StoredAnswer(refused.status, refused.problem())
            if key is not None:
                await idempotency.complete(conn, user_id, key, answer)
            return answer

    async def _charge(self, conn: asyncpg.Connection, user_id: int, amount: int) -> dict[str, Any]:
        wallet = await repo.wallet(conn, user_id, lock=True)
        if wallet is None:
            raise UserNotFound(f"User {user_id} does not exist")
        charged = wallet.charge(amount, self.limits)
        await repo.save_balance(conn, charged)
        tx_id = await repo.add_transaction(conn, user_id, TransactionType.CHARGE, amount, charged.balance)
        return {"userId": user_id, "balance": charged.balance, "transactionId": tx_id}

    async def history(
        self, user_id: int, cursor: str | None, size: int
    ) -> tuple[list[Transaction], str | None]:
        after = decode_cursor(cursor)
        async with self.pool.acquire() as conn:
            if await repo.wallet(conn, user_id) is None:
                raise UserNotFound(f"User {user_id} does not exist")
            rows = await repo.transactions(conn, user_id, after[0] if after else None, size + 1)
        items = [Transaction(**dict(r)) for r in rows]
        return page_of(items, size, lambda t: (t.id,))

    # --- the payment saga's steps (internal API), idempotent on the payment id -------------------

    async def debit_for_payment(
        self, payment_id: int, user_id: int, amount: int, order_id: int | None
    ) -> Debit:
        async with self.pool.acquire() as conn, conn.transaction():
            # The wallet lock comes first: a concurrent retry of the same payment waits here and
            # then finds the recorded outcome below.
            wallet = await repo.wallet(conn, user_id, lock=True)
            if wallet is None:
                raise UserNotFound(f"User {user_id} does not exist")
            try:
                debited: Wallet | None = wallet.debit(amount)
            except InsufficientBalance:
                debited = None  # recorded as REFUSED: a retry gets the same answer
            status = DebitStatus.TAKEN if debited else DebitStatus.REFUSED
            after = debited.balance if debited else None
            if not await repo.record_debit(conn, payment_id, user_id, amount, order_id, status, after):
                return self._replayed(await repo.debit_record(conn, payment_id), user_id, amount)
            if debited:
                await repo.save_balance(conn, debited)
            return Debit(payment_id, user_id, amount, status, after)

    @staticmethod
    def _replayed(row: asyncpg.Record, user_id: int, amount: int) -> Debit:
        status = DebitStatus(row["status"])
        if row["user_id"] != user_id or (status is not DebitStatus.VOIDED and row["amount"] != amount):
            raise PaymentMismatch(f"Payment {row['payment_id']} was debited with other values")
        after = row["returned_after"] if status is DebitStatus.GIVEN_BACK else row["balance_after"]
        return Debit(row["payment_id"], row["user_id"], row["amount"], status, after)

    async def give_back(self, payment_id: int, user_id: int) -> Debit:
        """Return what the payment's debit took (a compensation or a refund). Idempotent; a give-back
        that arrives before its debit leaves a tombstone, so that late debit is refused."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.debit_record(conn, payment_id, lock=True)
            if row is None and await repo.void_debit(conn, payment_id, user_id):
                return Debit(payment_id, user_id, 0, DebitStatus.VOIDED, None)
            row = row or await repo.debit_record(conn, payment_id, lock=True)
            assert row is not None  # the tombstone's insert met a conflict: a debit row exists
            if row["user_id"] != user_id:
                raise PaymentMismatch(f"Payment {payment_id} belongs to another user")
            if DebitStatus(row["status"]) is not DebitStatus.TAKEN:
                return self._replayed(row, user_id, row["amount"])
            wallet = await repo.wallet(conn, user_id, lock=True)
            assert wallet is not None  # a TAKEN debit has a wallet (same transaction that took it)
            credited = wallet.credit(row["amount"])
            await repo.save_balance(conn, credited)
            await repo.mark_given_back(conn, payment_id, credited.balance)
            return Debit(payment_id, user_id, row["amount"], DebitStatus.GIVEN_BACK, credited.balance)

    # --- history rows of payments and refunds (TransactionHistoryConsumer) ---------------------------

    async def record_history(self, type_: TransactionType, entries: Sequence[HistoryEntry]) -> int:
        """The PAYMENT (or REFUND) rows of completed payments (or refunds), each once however often
        its event arrives (the unique index makes a redelivery a no-op); how many were new."""
        async with self.pool.acquire() as conn:
            return await repo.add_history(conn, type_, entries)

    async def debit_of(self, payment_id: int) -> Debit | None:
        """The saga asks what became of a debit whose answer it did not get."""
        async with self.pool.acquire() as conn:
            row = await repo.debit_record(conn, payment_id)
        return None if row is None else self._replayed(row, row["user_id"], row["amount"])


__all__ = ["Debit", "Transaction", "User", "Wallet", "Wallets"]
