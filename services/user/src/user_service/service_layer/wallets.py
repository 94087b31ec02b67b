"""Use cases of the user service. Each opens one transaction and leaves the rules to the domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from commerce_kit import idempotency
from commerce_kit.errors import AppError, ValidationFailed
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


class _AlreadyRecorded(Exception):
    """The payment's debit was recorded before: the retry's transaction is rolled back."""

    def __init__(self, row: asyncpg.Record) -> None:
        super().__init__()
        self.row = row


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _position(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, id) of the last row of the previous page, from the opaque cursor."""
    try:
        key = decode_cursor(cursor, arity=2)
    except ValidationFailed:
        if decode_cursor(cursor, arity=1):  # raises for anything but the old form
            raise ValidationFailed(
                "The cursor comes from the history's earlier order (by id): read it again from the first page"
            ) from None
        raise
    if key is None:
        return None
    micros, row_id = key
    if not isinstance(micros, int) or not isinstance(row_id, int):
        raise ValidationFailed("The cursor is not valid")
    try:
        return _EPOCH + timedelta(microseconds=micros), row_id
    except OverflowError:
        raise ValidationFailed("The cursor is not valid") from None


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
        moment = await repo.save_balance(conn, charged)
        tx_id = await repo.add_transaction(
            conn, user_id, TransactionType.CHARGE, amount, charged.balance, at=moment
        )
        return {"userId": user_id, "balance": charged.balance, "transactionId": tx_id}

    async def history(
        self, user_id: int, cursor: str | None, size: int
    ) -> tuple[list[Transaction], str | None]:
        """The wallet's statement: newest first by the moment the balance changed (ties by id), so
        that each row's balance after is the one below it plus or minus its amount. One exception:
        a debit the payment saga undid (its payment failed after the balance was taken) has no row,
        the payment never having happened for the user, so the rows written while it was held show
        a balance lower by its amount than the chain says."""
        before = _position(cursor)
        async with self.pool.acquire() as conn:
            if await repo.wallet(conn, user_id) is None:
                raise UserNotFound(f"User {user_id} does not exist")
            rows = await repo.transactions(conn, user_id, before, size + 1)
        items = [Transaction(**dict(r)) for r in rows]
        return page_of(items, size, lambda t: (_micros(t.created_at), t.id))

    # --- the payment saga's steps (internal API), idempotent on the payment id -------------------

    async def debit_for_payment(
        self, payment_id: int, user_id: int, amount: int, order_id: int | None
    ) -> Debit:
        try:
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
                # The balance first, so that the record keeps the moment it changed (the PAYMENT
                # row's time); for a payment recorded before, the raise below rolls it back.
                taken_at = await repo.save_balance(conn, debited) if debited else None
                recorded = await repo.record_debit(
                    conn, payment_id, user_id, amount, order_id, status, after, taken_at
                )
                if not recorded:
                    raise _AlreadyRecorded(await repo.debit_record(conn, payment_id))
                return Debit(payment_id, user_id, amount, status, after)
        except _AlreadyRecorded as earlier:  # the transaction is rolled back: this retry changed nothing
            return self._replayed(earlier.row, user_id, amount)

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
            returned_at = await repo.save_balance(conn, credited)
            await repo.mark_given_back(conn, payment_id, credited.balance, returned_at)
            return Debit(payment_id, user_id, row["amount"], DebitStatus.GIVEN_BACK, credited.balance)

    # --- history rows of payments and refunds (TransactionHistoryConsumer) ---------------------------

    async def record_history(self, type_: TransactionType, entries: Sequence[HistoryEntry]) -> int:
        """The PAYMENT (or REFUND) rows of completed payments (or refunds), each once however often
        its event arrives (the unique index makes a redelivery a no-op); how many were new. A row
        takes the time and balance its debit (or give-back) recorded under the wallet's lock, so it
        falls in its place in the statement however late its event comes."""
        async with self.pool.acquire() as conn:
            return await repo.add_history(conn, type_, entries)

    async def debit_of(self, payment_id: int) -> Debit | None:
        """The saga asks what became of a debit whose answer it did not get."""
        async with self.pool.acquire() as conn:
            row = await repo.debit_record(conn, payment_id)
        return None if row is None else self._replayed(row, row["user_id"], row["amount"])


__all__ = ["Debit", "Transaction", "User", "Wallet", "Wallets"]
