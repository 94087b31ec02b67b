"""SQL for the catalog schema. Functions take a connection so that the use case decides the
transaction; none of them commits.

Locks, always in this order so that no two transactions wait on each other in a cycle: the
payment's stock_takes row (claimed or locked first by every use case on a payment), then options in
id order, then products in id order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from catalog_service.domain.product import NewProduct
from catalog_service.domain.stock import Line, OptionStock, StockChange, TakeStatus
from commerce_kit.api import MAX_BIGINT

# The in-stock list, newest first (docs/list-query.md has its plans on 100k products / 1M options).
# The partial index products_listed holds only listed products; the lowest in-stock price walks
# options_by_product_price from the cheapest option and stops at the first one in stock. The cursor
# is a plain `id < $1` (MAX_BIGINT for the first page) so that even a generic plan starts the index
# scan at the cursor. CROSS JOIN: a product shows only with a price, and in_stock_options > 0
# guarantees one within the statement's snapshot, since both change in the same transaction.
LIST_PAGE = """
SELECT p.id, p.name, m.price
FROM products p
CROSS JOIN LATERAL (
    SELECT o.price FROM options o
    WHERE o.product_id = p.id AND o.stock > 0
    ORDER BY o.price
    LIMIT 1
) m
WHERE p.in_stock_options > 0 AND p.id < $1
ORDER BY p.id DESC
LIMIT $2
"""


async def listed_products(
    conn: asyncpg.Connection, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_PAGE, MAX_BIGINT if before_id is None else before_id, limit)


async def insert_product(
    conn: asyncpg.Connection, new: NewProduct
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    product = await conn.fetchrow(
        "INSERT INTO products (name, description, in_stock_options) VALUES ($1, $2, $3)"
        " RETURNING id, name, description",
        new.name,
        new.description,
        new.in_stock_options,
    )
    options = await conn.fetch(
        """
        INSERT INTO options (product_id, name, price, stock)
        SELECT $1, t.name, t.price, t.stock
        FROM unnest($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS t (name, price, stock, n)
        ORDER BY t.n
        RETURNING id, product_id, name, price, stock
        """,
        product["id"],
        [o.name for o in new.options],
        [o.price for o in new.options],
        [o.stock for o in new.options],
    )
    return product, sorted(options, key=lambda r: r["id"])


async def product(conn: asyncpg.Connection, product_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, description FROM products WHERE id = $1", product_id)


async def options_of(conn: asyncpg.Connection, product_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, product_id, name, price, stock FROM options WHERE product_id = $1 ORDER BY id", product_id
    )


async def option(conn: asyncpg.Connection, option_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT id, product_id, name, price, stock FROM options WHERE id = $1" + (
        " FOR UPDATE" if lock else ""
    )
    return await conn.fetchrow(sql, option_id)


async def option_stocks(
    conn: asyncpg.Connection, option_ids: Sequence[int], *, lock: bool = False
) -> dict[int, OptionStock]:
    """The options that exist among `option_ids`; with `lock`, locked in id order (the rows are
    locked as they come out of the ORDER BY)."""
    sql = "SELECT id, product_id, stock FROM options WHERE id = ANY($1::bigint[]) ORDER BY id"
    rows = await conn.fetch(sql + (" FOR UPDATE" if lock else ""), list(option_ids))
    return {r["id"]: OptionStock(r["id"], r["product_id"], r["stock"]) for r in rows}


async def lookup_options(conn: asyncpg.Connection, option_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT o.id AS option_id, o.product_id, p.name AS product_name, o.name AS option_name,
               o.price, o.stock
        FROM options o JOIN products p ON p.id = o.product_id
        WHERE o.id = ANY($1::bigint[])
        ORDER BY o.id
        """,
        list(set(option_ids)),
    )


async def save_stocks(conn: asyncpg.Connection, changes: Sequence[StockChange]) -> None:
    """Write the new stocks of locked options. Only `stock` (in no index) and `updated_at` change:
    a HOT update that touches no index. The product row changes only when a stock crosses zero
    (`shift_in_stock`)."""
    await conn.execute(
        """
        UPDATE options o SET stock = c.stock, updated_at = now()
        FROM unnest($1::bigint[], $2::bigint[]) AS c (id, stock)
        WHERE o.id = c.id
        """,
        [c.after.option_id for c in changes],
        [c.after.stock for c in changes],
    )


async def shift_in_stock(conn: asyncpg.Connection, deltas: Iterable[tuple[int, int]]) -> None:
    """Move products' in-stock option counts, one statement per product in the given (id) order,
    so the product rows are locked in that order."""
    for product_id, delta in deltas:
        await conn.execute(
            "UPDATE products SET in_stock_options = in_stock_options + $2 WHERE id = $1", product_id, delta
        )


# --- the stock takes of payments ------------------------------------------------------------------


async def take_record(
    conn: asyncpg.Connection, payment_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    sql = "SELECT payment_id, status, short_option_ids FROM stock_takes WHERE payment_id = $1"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), payment_id)


async def take_lines(conn: asyncpg.Connection, payment_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT option_id, product_id, quantity, stock_after, returned_after FROM stock_take_lines"
        " WHERE payment_id = $1 ORDER BY option_id",
        payment_id,
    )


async def claim_take(conn: asyncpg.Connection, payment_id: int) -> bool:
    """Takes the payment's row first, before any option, as every use case on a payment does; False
    when the payment already has a record. The row says TAKEN until `settle_take` says otherwise,
    in the same transaction (so nobody ever reads the provisional status)."""
    return bool(
        await conn.fetchval(
            "INSERT INTO stock_takes (payment_id, status) VALUES ($1, 'TAKEN')"
            " ON CONFLICT (payment_id) DO NOTHING RETURNING true",
            payment_id,
        )
    )


async def settle_take(
    conn: asyncpg.Connection,
    payment_id: int,
    status: TakeStatus,
    short_option_ids: Sequence[int],
    lines: Sequence[tuple[Line, int, int]],
) -> None:
    """Records the outcome of a claimed take with its lines: (line, product id, stock after)."""
    await conn.execute(
        "UPDATE stock_takes SET status = $2, short_option_ids = $3 WHERE payment_id = $1",
        payment_id,
        status.value,
        list(short_option_ids),
    )
    await conn.execute(
        """
        INSERT INTO stock_take_lines (payment_id, option_id, product_id, quantity, stock_after)
        SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
        """,
        payment_id,
        [line.option_id for line, _, _ in lines],
        [product_id for _, product_id, _ in lines],
        [line.quantity for line, _, _ in lines],
        [after for _, _, after in lines],
    )


async def mark_given_back(conn: asyncpg.Connection, payment_id: int, changes: Sequence[StockChange]) -> None:
    await conn.execute(
        "UPDATE stock_takes SET status = 'GIVEN_BACK', updated_at = now() WHERE payment_id = $1", payment_id
    )
    await conn.execute(
        """
        UPDATE stock_take_lines l SET returned_after = c.stock
        FROM unnest($2::bigint[], $3::bigint[]) AS c (option_id, stock)
        WHERE l.payment_id = $1 AND l.option_id = c.option_id
        """,
        payment_id,
        [c.after.option_id for c in changes],
        [c.after.stock for c in changes],
    )


async def void_take(conn: asyncpg.Connection, payment_id: int) -> bool:
    """A give-back that arrives before any take: leave a tombstone so that a late take does nothing."""
    return bool(
        await conn.fetchval(
            "INSERT INTO stock_takes (payment_id, status) VALUES ($1, 'VOIDED')"
            " ON CONFLICT (payment_id) DO NOTHING RETURNING true",
            payment_id,
        )
    )
