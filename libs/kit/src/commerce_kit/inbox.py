"""Idempotent consumers: remember which events a consumer has handled, so a redelivered event
changes nothing (for effects outside our database, such as a delivery to another system, whose
success is remembered once it is acknowledged; effects in our own tables are made idempotent by
their own unique keys instead).

Each service that uses it has the table `inbox` in its own schema: it declares `KitTables.INBOX`
(commerce_kit.db) and the kit's own migrations make it (`commerce_kit/migrations/inbox/`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

import asyncpg


async def handled(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str, event_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `event_ids` the consumer has handled already (a batch: one read)."""
    rows = await conn.fetch(
        "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        consumer,
        list(event_ids),
    )
    return {row["event_id"] for row in rows}


async def remember(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str, event_ids: Collection[uuid.UUID]
) -> None:
    """The consumer has handled `event_ids` (some may be remembered already: a redelivery)."""
    await conn.execute(
        "INSERT INTO inbox (consumer, event_id) SELECT $1, e FROM unnest($2::uuid[]) AS e ORDER BY e"
        " ON CONFLICT DO NOTHING",
        consumer,
        sorted(event_ids),
    )


async def forget_older_than(pool: asyncpg.Pool, days: int) -> int:
    """Housekeeping: keep entries well beyond the topics' retention (a redelivery cannot be older)."""
    result = await pool.execute(
        "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)", days
    )
    return int(result.split()[-1])
