"""Custom plans (`db.create_pool(custom_plans=True)`): why a service asks for them, and that it gets
them. The trap, on a real PostgreSQL: a statement that looks rows up by an array of ids, executed
while its table is small, keeps a generic plan made then (a sequential scan) while the table grows."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from commerce_kit.db import create_pool, plain_url

LOOKUP = "SELECT id FROM {table} WHERE id = ANY($1::text[])"


async def _plan_after_growth(pool: asyncpg.Pool, table: str) -> str:
    """The plan a cached lookup uses once its table has grown, its statement having been run on
    the small table first (more than the five custom plans PostgreSQL tries before it caches)."""
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, payload text NOT NULL)")
        await conn.execute(f"INSERT INTO {table} SELECT 'r' || g, 'x' FROM generate_series(1, 20) g")
        await conn.execute(f"ANALYZE {table}")  # what autovacuum soon knows of a new table: it is small
        await conn.execute(f"PREPARE lookup (text[]) AS {LOOKUP.format(table=table)}")
        ids = ",".join(f"r{i}" for i in range(1, 200))
        for _ in range(8):
            await conn.fetch(f"EXECUTE lookup('{{{ids}}}')")
        await conn.execute(
            f"INSERT INTO {table} SELECT 'q' || g, repeat('x', 40) FROM generate_series(1, 30000) g"
        )
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE lookup('{q1,q2}')"))
        await conn.execute("DEALLOCATE lookup")
        await conn.execute(f"DROP TABLE {table}")
        return plan


@pytest.mark.parametrize("custom_plans", [False, True])
async def test_a_lookup_by_ids_keeps_a_stale_plan_unless_plans_are_custom(test_database_url, custom_plans):
    pool = await create_pool(
        test_database_url,
        "public",
        application_name="kit-test",
        min_size=1,
        max_size=1,
        custom_plans=custom_plans,
    )
    try:
        setting = await pool.fetchval("SHOW plan_cache_mode")
        plan = await _plan_after_growth(pool, f"plans_{secrets.token_hex(4)}")
    finally:
        await pool.close()
    if custom_plans:
        assert setting == "force_custom_plan"
        assert "Index" in plan and "Seq Scan" not in plan, plan
    else:
        assert setting == "auto"
        # What the option is for: the plan made on the small table is still used at 30,000 rows.
        assert "Seq Scan" in plan, plan


async def test_a_plain_pool_keeps_postgres_defaults(test_database_url):
    conn = await asyncpg.connect(plain_url(test_database_url))
    try:
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await conn.close()
