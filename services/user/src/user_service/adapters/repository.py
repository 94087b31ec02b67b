"""SQL for the user schema. Functions take a connection so that the use case decides the
transaction; none of them commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

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


async def save_balance(conn: asyncpg.Connection, wallet: Wallet) -> datetime:
    """Stores the new balance and returns the moment it changed, the time of its history row. The
    caller holds the wallet's lock, so the moment is taken under it (the clock now, not the
    transaction's start), and it is later than the wallet's previous one even when the clock steps
    back: the history's order is the order in which the balance changed."""
    moment: datetime = await conn.fetchval(
        """
        UPDATE wallets SET balance = $2,
            updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
        WHERE user_id = $1
        RETURNING updated_at
        """,
        wallet.user_id,
        wallet.balance,
    )
    return moment


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


#: The balance a history row shows and its time: those the payment's debit recorded, or its give-back.
_DEBIT_COLUMNS = {
    TransactionType.PAYMENT: ("balance_after", "taken_at"),
    TransactionType.REFUND: ("returned_after", "returned_at"),
}


async def add_history(
    conn: asyncpg.Connection, type_: TransactionType, entries: Sequence[HistoryEntry]
) -> int:
    """The PAYMENT or REFUND rows of many payments in one statement, each once (a payment already
    in the history, or twice in `entries`, adds nothing); returns how many were new. The balance
    after and the time are the debit's as recorded here (under the wallet's lock) when there is
    one, else the entry's."""
    balance_column, time_column = _DEBIT_COLUMNS[type_]
    result = await conn.execute(
        f"""
        INSERT INTO wallet_transactions
            (user_id, type, amount, balance_after, order_id, payment_id, created_at)
        SELECT DISTINCT ON (e.payment_id)
            e.user_id, $1, e.amount, coalesce(d.{balance_column}, e.balance_after, 0), e.order_id,
            e.payment_id, coalesce(d.{time_column}, e.at, now())
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


#: A position after every row: the first page reads below it.
_LATEST = (datetime.max.replace(tzinfo=UTC), 2**63 - 1)


async def transactions(
    conn: asyncpg.Connection, user_id: int, before: tuple[datetime, int] | None, limit: int
) -> list[asyncpg.Record]:
    """The user's rows newest first by the moment the balance changed (ties by id), those after
    `before` (the time and id of the last row of the previous page)."""
    return await conn.fetch(
        """
        SELECT id, type, amount, balance_after, order_id, payment_id, created_at
        FROM wallet_transactions
        WHERE user_id = $1 AND (created_at, id) < ($2, $3)
        ORDER BY created_at DESC, id DESC
        LIMIT $4
        """,
        user_id,
        # The first page reads below _LATEST: one plan for every page (an `IS NULL OR` would give
        # PostgreSQL's generic plan a filter instead of an index bound).
        *(before or _LATEST),
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
    taken_at: datetime | None,
) -> bool:
    """Records the outcome of the payment's debit (`taken_at`: the moment the balance changed);
    False when the payment already has one."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO payment_debits
                (payment_id, user_id, amount, order_id, status, balance_after, taken_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (payment_id) DO NOTHING RETURNING true
            """,
            payment_id,
            user_id,
            amount,
            order_id,
            status.value,
            balance_after,
            taken_at,
        )
    )


async def mark_given_back(
    conn: asyncpg.Connection, payment_id: int, returned_after: int, returned_at: datetime
) -> None:
    await conn.execute(
        """
        UPDATE payment_debits
        SET status = 'GIVEN_BACK', returned_after = $2, returned_at = $3, updated_at = now()
        WHERE payment_id = $1
        """,
        payment_id,
        returned_after,
        returned_at,
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
