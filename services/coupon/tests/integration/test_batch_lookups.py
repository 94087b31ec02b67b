"""The settlement's lookups by key (adapters.issue_requests: `settled`, `holders`) go through the
key's index on a table PostgreSQL has no statistics for: a new database, or a busy table before
autovacuum's next analyze. Written `key = ANY($1)`, PostgreSQL plans them as sequential scans, whose
cost grows with the table. Checked on the plan, not on a
timing: the tables here are temporary ones (autovacuum never analyzes those) shadowing the
service's own for one transaction."""

from __future__ import annotations

from coupon_service.adapters import issue_requests as sql
from coupon_service.domain.reservation import Status

ROWS = 30_000  # enough for a sequential scan to be what ANY($1) over 800 keys is planned as
COUPON = 1


async def test_a_batch_lookup_probes_the_index_of_a_table_without_statistics(pool, migrated):
    schema = migrated.db_schema
    async with pool.acquire() as conn, conn.transaction():
        for table in ("issue_requests", "user_coupons"):
            await conn.execute(
                f"CREATE TEMP TABLE {table} (LIKE {schema}.{table} INCLUDING ALL) ON COMMIT DROP"
            )
        await conn.execute(
            f"""
            INSERT INTO user_coupons (user_id, coupon_id, name, discount_type, discount_value,
                issued_at, expires_at)
            SELECT g, {COUPON}, 'Welcome', 'FIXED', 1000, now(), now() + interval '30 days'
            FROM generate_series(1, {ROWS}) g;
            INSERT INTO issue_requests (reservation_id, coupon_id, user_id, status, user_coupon_id,
                requested_at)
            SELECT 'r' || g, {COUPON}, g, 'ISSUED', g, now() FROM generate_series(1, {ROWS}) g;
            """
        )
        users = list(range(ROWS - 400, ROWS + 400))  # half of them hold a copy
        reservations = [f"r{u}" for u in users]

        for query, args, table in (
            (sql.SETTLED_QUERY, (reservations,), "issue_requests"),
            (sql.HOLDERS_QUERY, (COUPON, users), "user_coupons"),
        ):
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + query, *args))
            assert f"Seq Scan on {table}" not in plan, plan
            assert f"Index Only Scan using {table}_" in plan or f"Index Scan using {table}_" in plan, plan

        found = await sql.settled(conn, [*reservations, reservations[-1]])  # a key twice: found once
        assert sorted(found) == sorted(f"r{u}" for u in users if u <= ROWS)
        assert found[f"r{ROWS}"].status is Status.ISSUED and found[f"r{ROWS}"].user_coupon_id == ROWS
        # user g holds copy g (the copies were numbered in the order of their users)
        assert await sql.holders(conn, COUPON, users) == {u: u for u in users if u <= ROWS}
        assert await sql.holders(conn, COUPON + 1, users) == {}
