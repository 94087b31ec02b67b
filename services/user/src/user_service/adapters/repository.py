"""SQL for the user schema. Functions take a connection so that the use case decides the
transaction; none of them commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from user_service.domain.wallet import DebitStatus, HistoryEntry, TransactionType, Wallet


async def insert_user(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    row = await conn.fetchrow("INSERT INTO users (name) VALUES ($1) RETURNING id, name, created_at", name)
    await conn.execute("INSERT INTO wallets (user_id) VALUES ($1)", row["id"])
    return row


async def wallet(conn: asyncpg.Connection, user_id: int, *, lock: bool = False) -> Wallet | None:
    sql = "SELECT balance FROM wallets WHERE user_id = $1" + (" FOR UPDATE" if lock else "")
    balance = await conn.fetchval(sql, user_id)
    return None if balance is None else Wallet(user_id, balance)


async def save_balance(conn: asyncpg.Connection, wallet: Wallet) -> None:
    await conn.execute(
        "UPDATE wallets SET balance = $2, updated_at = now() WHERE user_id = $1",
        wallet.user_id,
        wallet.balance,
    )


async def add_transaction(
    conn: asyncpg.Connection,
    user_id: int,
    type_: TransactionType,
    amount: int,
    balance_after: int,
    *,
    order_id: int | None = None,
    payment_id: int | None = None,
    at: datetime | None = None,
) -> int | None:
    """Returns the new row's id, or None when the row of this payment and type already exists."""
    return await conn.fetchval(
        """
        INSERT INTO wallet_transactions
            (user_id, type, amount, balance_after, order_id, payment_id, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()))
        ON CONFLICT (payment_id, type) WHERE payment_id IS NOT NULL DO NOTHING
        RETURNING id
        """,
        user_id,
        type_.value,
        amount,
        balance_after,
        order_id,
        payment_id,
        at,
    )


#: Which balance a history row shows: the one the payment's debit left, or the one its give-back left.
_BALANCE_AFTER = {TransactionType.PAYMENT: "balance_after", TransactionType.REFUND: "returned_after"}


async def add_history(
    conn: asyncpg.Connection, type_: TransactionType, entries: Sequence[HistoryEntry]
) -> int:
    """The PAYMENT or REFUND rows of many payments in one statement, each once (a payment already
    in the history, or twice in `entries`, adds nothing); returns how many were new. The balance
    after is the debit's as recorded here when there is one, else the entry's."""
    column = _BALANCE_AFTER[type_]
    result = await conn.execute(
        f"""
        INSERT INTO wallet_transactions
            (user_id, type, amount, balance_after, order_id, payment_id, created_at)
        SELECT DISTINCT ON (e.payment_id)
            e.user_id, $1, e.amount, coalesce(d.{column}, e.balance_after, 0), e.order_id, e.payment_id,
            coalesce(e.at, now())
        FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[])
            AS e (payment_id, user_id, order_id, amount, balance_after, at)
        LEFT JOIN payment_debits d ON d.payment_id = e.payment_id
        ORDER BY e.payment_id
        ON CONFLICT (payment_id, type) WHERE payment_id IS NOT NULL DO NOTHING
        """,
        type_.value,
        [e.payment_id for e in entries],
        [e.user_id for e in entries],
        [e.order_id for e in entries],
        [e.amount for e in entries],
        [e.balance_after for e in entries],
        [e.at for e in entries],
    )
    return int(result.split()[-1])


async def transactions(
    conn: asyncpg.Connection, user_id: int, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT id, type, amount, balance_after, order_id, payment_id, created_at
        FROM wallet_transactions
        WHERE user_id = $1 AND id < $2
        ORDER BY id DESC
        LIMIT $3
        """,
        user_id,
        # The first page reads below the largest id: one plan for every page (an `IS NULL OR` would
        # give PostgreSQL's generic plan a filter instead of an index bound).
        2**63 - 1 if before_id is None else before_id,
        limit,
    )


async def debit_record(
    conn: asyncpg.Connection, payment_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    sql = "SELECT * FROM payment_debits WHERE payment_id = $1" + (" FOR UPDATE" if lock else "")
    return await conn.fetchrow(sql, payment_id)


async def record_debit(
    conn: asyncpg.Connection,
    payment_id: int,
    user_id: int,
    amount: int,
    order_id: int | None,
    status: DebitStatus,
    balance_after: int | None,
) -> bool:
    """Records the outcome of the payment's debit; False when the payment already has one."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO payment_debits (payment_id, user_id, amount, order_id, status, balance_after)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (payment_id) DO NOTHING RETURNING true
            """,
            payment_id,
            user_id,
            amount,
            order_id,
            status.value,
            balance_after,
        )
    )


async def mark_given_back(conn: asyncpg.Connection, payment_id: int, returned_after: int) -> None:
    await conn.execute(
        "UPDATE payment_debits SET status = 'GIVEN_BACK', returned_after = $2, updated_at = now()"
        " WHERE payment_id = $1",
        payment_id,
        returned_after,
    )


async def void_debit(conn: asyncpg.Connection, payment_id: int, user_id: int) -> bool:
    """A give-back that arrives before any debit: leave a tombstone so a late debit is refused."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO payment_debits (payment_id, user_id, amount, status) VALUES ($1, $2, 0, 'VOIDED')
            ON CONFLICT (payment_id) DO NOTHING RETURNING true
            """,
            payment_id,
            user_id,
        )
    )
