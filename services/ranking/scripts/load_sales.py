"""Load N sale lines into a scratch database and time the rebuild on them (docs/rebuild.md).

    uv run --package commerce-ranking python services/ranking/scripts/load_sales.py \\
        --database-url postgresql://postgres@127.0.0.1:55432/ranking_bench [--lines 10000000] [--scatter]

The database is created (dbmate) and migrated; its `rankings` schema must be empty or the script
stops (it never touches a schema that holds data, unless `--replace`). Sales are generated inside
PostgreSQL with generate_series: sale g has 1 + g % 4 lines (2.5 on average, so 4,000,000 sales make
10,000,000 lines) over `--products` products, `--days` calendar days up to now in APP_ZONE, one in
twenty refunded. By default `paid_at` grows with g, as sales arrive in time; `--scatter` shuffles them
over the days (the table then holds each day's rows all over its pages: the worst case for the
per-day range scans). Then the rebuild runs once as the service runs it, and the script prints the
timings. `--drop` drops the scratch database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from commerce_kit import db
from commerce_kit.auth import ServiceToken
from commerce_kit.clients import ServiceClient
from ranking_service.adapters.orders import PaidOrders
from ranking_service.domain.calendar import Window, day_of
from ranking_service.migrations import MIGRATIONS
from ranking_service.service_layer.backfill import Backfill
from ranking_service.service_layer.rebuild import Rebuilder, Trigger
from ranking_service.settings import RankingSettings

SCHEMA = "rankings"
CHUNK = 500_000  # sales per INSERT: progress to watch, and transactions of a sane size

LOAD = """
INSERT INTO sales (payment_id, order_id, user_id, paid_at, refunded_at, product_ids, quantities, source)
SELECT g,
       g,
       1 + g % 100000,
       paid,
       CASE WHEN g % 20 = 0 THEN paid + interval '1 hour' END,
       -- One line in five goes to one of 20 best sellers, the others spread over every product.
       ARRAY(SELECT CASE WHEN (g + k) % 5 = 0 THEN 1 + (g * k) % 20 ELSE 1 + (g * 7919 + k * 104729) % $4 END
             FROM generate_series(1, 1 + g % 4) k),
       ARRAY(SELECT (1 + (g + k) % 3)::int FROM generate_series(1, 1 + g % 4) k),
       'BACKFILL'
FROM generate_series($1::bigint, $2::bigint) g,
     -- Seconds before now: in time order (the last sale is the newest), or spread pseudo-randomly.
     LATERAL (SELECT $3::timestamptz - make_interval(secs => CASE
         WHEN $6 THEN ((g * 7907) % $5)::float8
         ELSE ($7 - g)::float8 * $5 / $7 END)) AS t(paid)
"""


def scratch_admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(db.plain_url(url))
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


async def load(url: str, sales: int, products: int, days: int, scatter: bool, now: datetime) -> float:
    conn = await asyncpg.connect(db.plain_url(url), server_settings={"search_path": SCHEMA})
    try:
        began = time.perf_counter()
        span = days * 86400  # seconds back from now that the sales cover
        for first in range(1, sales + 1, CHUNK):
            last = min(sales, first + CHUNK - 1)
            t = time.perf_counter()
            await conn.execute(LOAD, first, last, now, products, span, scatter, sales)
            print(f"  sales {first:>9,} .. {last:>9,} loaded in {time.perf_counter() - t:5.1f} s", flush=True)
        await conn.execute("UPDATE backfill SET status = 'DONE'")  # nothing to backfill: see the docs
        t = time.perf_counter()
        await conn.execute("VACUUM ANALYZE sales")
        print(f"  VACUUM ANALYZE sales in {time.perf_counter() - t:.1f} s")
        lines = await conn.fetchval("SELECT sum(cardinality(product_ids)) FROM sales")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('sales'))")
        print(f"  {sales:,} sales, {lines:,} lines, table and index {size}")
        return time.perf_counter() - began
    finally:
        await conn.close()


async def rebuild(settings: RankingSettings, clock: datetime) -> None:
    pool = await db.create_pool(settings.database_url, SCHEMA, application_name="ranking-bench", min_size=1)
    orders = ServiceClient("order", "http://127.0.0.1:9", ServiceToken(settings.jwt_secret, "ranking"))
    try:
        rebuilder = Rebuilder(
            pool,
            Backfill(PaidOrders(orders)),
            settings.zone,
            lambda: clock,
            settings.rebuild_days,
            lambda: None,
        )
        window: Window = rebuilder.window()
        print(f"rebuild of {window.first} .. {window.last} ({settings.rebuild_days} days):")
        began = time.perf_counter()
        _, report = await rebuilder.run(Trigger.MANUAL)
        elapsed = time.perf_counter() - began
        assert report is not None and report.status == "DONE", report
        print(f"  rebuild {report.id}: {report.status} in {elapsed:.2f} s")
        async with pool.acquire() as conn:
            counters = await conn.fetchval("SELECT count(*) FROM product_day_sales")
            units = await conn.fetchval("SELECT sum(quantity) FROM product_day_sales")
            expected = await conn.fetchval(
                "SELECT sum(q) FROM sales, unnest(quantities) q WHERE refunded_at IS NULL AND paid_at >= $1",
                datetime.combine(window.first, datetime.min.time(), tzinfo=settings.zone),
            )
            print(f"  {counters:,} per-day counters, {units:,} units (the sales say {expected:,})")
            t = time.perf_counter()
            for days in (3, 30):
                rows = await conn.fetch(
                    "SELECT product_id, sum(quantity)::bigint AS sold FROM product_day_sales"
                    " WHERE day BETWEEN $1 AND $2 GROUP BY product_id ORDER BY sold DESC, product_id LIMIT 5",
                    Window.last_days(days, window.last).first,
                    window.last,
                )
                print(f"  top 5 of {days} days (uncached read): {[(r[0], r[1]) for r in rows]}")
            print(f"  both reads in {(time.perf_counter() - t) * 1000:.0f} ms")
    finally:
        await orders.aclose()
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a scratch database (created when missing)")
    parser.add_argument("--lines", type=int, default=10_000_000, help="sale lines (2.5 per sale)")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30, help="calendar days the sales cover, up to today")
    parser.add_argument("--scatter", action="store_true", help="paid_at not in insertion order")
    parser.add_argument("--replace", action="store_true", help="empty a rankings schema that holds data")
    parser.add_argument("--drop", action="store_true", help="drop the scratch database at the end")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(message)s")
    logging.getLogger("ranking_service").setLevel(logging.INFO)

    settings = RankingSettings(DATABASE_URL=args.database_url)
    db.migrate(settings.database_url, SCHEMA, MIGRATIONS)
    conn = await asyncpg.connect(db.plain_url(args.database_url), server_settings={"search_path": SCHEMA})
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT FROM sales)"):
            if not args.replace:
                raise SystemExit(
                    "the rankings schema of that database holds sales: use a scratch one, or --replace"
                )
            await conn.execute("TRUNCATE sales, product_day_sales, product_names, rebuild_runs")
        print(
            f"PostgreSQL {await conn.fetchval('SHOW server_version')}, shared_buffers "
            f"{await conn.fetchval('SHOW shared_buffers')}, work_mem {await conn.fetchval('SHOW work_mem')}"
        )
    finally:
        await conn.close()

    now = datetime.now(UTC)
    sales = -(-args.lines * 2 // 5)  # 2.5 lines per sale
    order = "scattered" if args.scatter else "in time order"
    print(
        f"loading {sales:,} sales (~{args.lines:,} lines), {order}, "
        f"up to {now:%Y-%m-%d %H:%M} UTC ({day_of(now, settings.zone)} in {settings.app_zone}):"
    )
    loaded = await load(args.database_url, sales, args.products, args.days, args.scatter, now)
    print(f"  loaded in {loaded:.1f} s")
    await rebuild(settings, now)

    if args.drop:
        admin, name = scratch_admin_url(args.database_url)
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        print(f"dropped {name}")


if __name__ == "__main__":
    asyncio.run(main())
