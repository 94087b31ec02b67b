"""Idempotent consumers: remember which events a consumer has handled, in the same transaction as
the effect, so a redelivered event changes nothing.

Each consuming service has this table in its own schema:

    CREATE TABLE inbox (
        consumer text NOT NULL, event_id uuid NOT NULL,
        handled_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));
"""

from __future__ import annotations

import uuid

import asyncpg


async def first_delivery(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """True the first time (the caller applies the effect in this same transaction); False for a
    redelivery. Concurrent deliveries of one event serialise on the primary key."""
    return bool(
        await conn.fetchval(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            event_id,
        )
    )


async def forget_older_than(pool: asyncpg.Pool, days: int) -> int:
    """Housekeeping: keep entries well beyond the topics' retention (a redelivery cannot be older)."""
    result = await pool.execute(
        "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)", days
    )
    return int(result.split()[-1])
