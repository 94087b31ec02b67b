"""`Idempotency-Key` (API.md): scoped per user, kept at least 24 h. Same key and same request: the
first answer is replayed and nothing happens twice; same key, another request: 422
`IDEMPOTENCY_KEY_REUSED`; same key while the first is still running: 409 `IDEMPOTENCY_IN_PROGRESS`.

The key row is claimed with `INSERT ... ON CONFLICT DO NOTHING` (never check-then-insert): when the
operation runs inside the claiming transaction, a concurrent duplicate waits on the unique index
until the first commits and then replays its answer. Long operations (the payment saga) `lookup` the
key first, then `claim` it in the transaction that records the operation's start, and complete it
when the operation ends; duplicates meanwhile get `IDEMPOTENCY_IN_PROGRESS`. Never commit a claim
on its own: a crash right after it would leave the key "in progress" with nothing behind it that
will ever complete it. An operation refused before it starts stores its answer with `remember`.

Each service that accepts the header has the table `idempotency_keys` in its own schema: it declares
`KitTables.IDEMPOTENCY` (commerce_kit.db) and the kit's own migrations make it
(`commerce_kit/migrations/idempotency/`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from commerce_kit.errors import IdempotencyInProgress, IdempotencyKeyReused, ValidationFailed

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: Any


def fingerprint(operation: str, request: Any) -> bytes:
    """What makes two requests "the same": the operation and its canonical body."""
    return hashlib.sha256(
        operation.encode() + b"\0" + orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    ).digest()


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters")
    return key


async def claim(conn: asyncpg.Connection, user_id: int, key: str, print_: bytes) -> StoredAnswer | None:
    """Claim `key` for this request. Returns None when the caller owns it now (and must `complete`
    it), or the stored answer to replay. Raises when the key belongs to another request or is
    still being worked on."""
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        user_id,
        key,
        print_,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        "SELECT fingerprint, status_code, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id,
        key,
    )
    if row is None:  # expired and removed between the two statements: treat it as new
        return await claim(conn, user_id, key, print_)
    return _replay(row, print_)


async def lookup(conn: asyncpg.Connection, user_id: int, key: str, print_: bytes) -> StoredAnswer | None:
    """Read-only: the stored answer to replay, or None when the key is new (raises as `claim`)."""
    row = await conn.fetchrow(
        "SELECT fingerprint, status_code, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id,
        key,
    )
    return None if row is None else _replay(row, print_)


async def remember(
    conn: asyncpg.Connection, user_id: int, key: str, print_: bytes, answer: StoredAnswer
) -> StoredAnswer:
    """Claim and complete `key` in one statement (an operation refused before it started). When a
    concurrent request with the same key got there first, its answer is the one to give."""
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code, body)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        user_id,
        key,
        print_,
        answer.status_code,
        answer.body,
    )
    if inserted:
        return answer
    return await lookup(conn, user_id, key, print_) or answer


def _replay(row: asyncpg.Record, print_: bytes) -> StoredAnswer:
    if bytes(row["fingerprint"]) != print_:
        raise IdempotencyKeyReused()
    if row["status_code"] is None:
        raise IdempotencyInProgress()
    return StoredAnswer(row["status_code"], row["body"])


async def complete(conn: asyncpg.Connection, user_id: int, key: str, answer: StoredAnswer) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = $3, body = $4 WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        answer.status_code,
        answer.body,
    )


async def forget_older_than(pool: asyncpg.Pool, hours: int) -> int:
    """Housekeeping: keys are kept `hours` (>= 24) and then removed."""
    result = await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)"
        " AND status_code IS NOT NULL",
        hours,
    )
    return int(result.split()[-1])
