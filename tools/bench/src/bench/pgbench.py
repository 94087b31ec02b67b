"""The database baselines, measured with pgbench (PostgreSQL's own client) on the suite's PostgreSQL
server in the same run, on a scratch database dropped afterwards:

- `hot_row`: the naive first-come-first-served issue, one `UPDATE ... remaining - 1` of a single row
  per copy (sql/hot_row.sql): what the coupon pipeline's batch settlement is measured against;
- `payment`: the SQL the services run for one order and its payment, in their transactions
  (sql/payment.sql), on tables made by the services' own migrations: the floor of database work
  under make bench's order + payment flows.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SQL = Path(__file__).parent / "sql"
#: The services whose schemas one order and its payment touch, with their packages (for `migrate`).
PAYMENT_SCHEMAS = {
    "user": "user_service",
    "catalog": "catalog_service",
    "coupon": "coupon_service",
    "order": "order_service",
    "payment": "payment_service",
}


@dataclass
class PgbenchResult:
    name: str
    tps: float
    transactions: int
    failed: int
    latency_avg_ms: float
    clients: int
    seconds: float
    command: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tps": self.tps,
            "transactions": self.transactions,
            "failed": self.failed,
            "latency_avg_ms": self.latency_avg_ms,
            "clients": self.clients,
            "seconds": self.seconds,
            "command": " ".join(self.command),
        }


def parse(output: str) -> tuple[float, int, int, float]:
    """(tps, transactions, failed, average latency ms) from pgbench's summary."""
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if tps is None:
        raise ValueError(f"not a pgbench summary:\n{output[-2000:]}")
    done = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    return (
        float(tps.group(1)),
        int(done.group(1)) if done else 0,
        int(failed.group(1)) if failed else 0,
        float(latency.group(1)) if latency else float("nan"),
    )


def binary() -> str:
    found = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if found is None:
        from devstack.system import apt_install

        apt_install(["postgresql-client"])
        found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("pgbench is not installed (Debian: postgresql-client)")
    return found


def _server(url: str, database: str) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    return urlunsplit(parts._replace(path=f"/{database}", query=""))


@contextmanager
def scratch_database(database_url: str) -> Iterator[str]:
    """A database of its own on the suite's server, dropped afterwards."""
    name = f"bench_pgbench_{secrets.token_hex(3)}"
    admin = _server(database_url, "postgres")

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield _server(database_url, name)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run(
    name: str, url: str, script: Path, *, clients: int, seconds: float, defines: dict[str, Any]
) -> PgbenchResult:
    command = [
        binary(),
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={max(1, round(seconds))}",
        f"--file={script}",
        *(f"--define={k}={v}" for k, v in defines.items()),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed (exit {done.returncode}):\n{output[-3000:]}")
    tps, transactions, failed, latency = parse(output)
    return PgbenchResult(name, tps, transactions, failed, latency, clients, seconds, command)


def hot_row(database_url: str, *, seconds: float, clients: int = 8) -> PgbenchResult:
    """One UPDATE of one row per transaction, `clients` at once (they queue on the row's lock)."""
    with scratch_database(database_url) as url:

        async def setup() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(
                    "CREATE TABLE bench_hot_row (id int PRIMARY KEY, remaining int NOT NULL);"
                    " INSERT INTO bench_hot_row VALUES (1, 2000000000);"
                )
            finally:
                await conn.close()

        asyncio.run(setup())
        return _run(
            "pgbench: single hot row UPDATE",
            url,
            SQL / "hot_row.sql",
            clients=clients,
            seconds=seconds,
            defines={},
        )


def migrate(url: str, packages: Iterator[str] | list[str]) -> None:
    """The services' own migrations (each `python -m <service> migrate`) into the scratch database."""
    env = {**os.environ, "DATABASE_URL": url}
    for package in packages:
        done = subprocess.run(
            [sys.executable, "-m", package, "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{package} migrate failed:\n{done.stdout}{done.stderr}")


SEED = """
CREATE SCHEMA benchpg;
INSERT INTO users.users (name) SELECT 'pgbench ' || g FROM generate_series(1, {users}) g;
INSERT INTO users.wallets (user_id, balance) SELECT id, 1000000000000000 FROM users.users;
INSERT INTO catalog.products (name, description, in_stock_options)
    SELECT 'pgbench ' || g, 'pgbench product', 1 FROM generate_series(1, {options}) g;
INSERT INTO catalog.options (product_id, name, price, stock)
    SELECT id, 'only', 10000, 1000000000000 FROM catalog.products ORDER BY id;
INSERT INTO coupons.coupons (name, discount_type, discount_value, total_quantity, remaining, valid_days)
    VALUES ('pgbench', 'FIXED', 1000, 10000000, 10000000 - {rows}, 30);
INSERT INTO coupons.user_coupons (user_id, coupon_id, name, discount_type, discount_value, status,
        issued_at, expires_at)
    SELECT g, 1, 'pgbench', 'FIXED', 1000, 'ISSUED', now(), now() + interval '30 days'
    FROM generate_series(1, {rows}) g;
CREATE SEQUENCE benchpg.user_coupons MAXVALUE {rows};
ANALYZE;
"""


def payment(
    database_url: str,
    *,
    seconds: float,
    clients: int = 16,
    users: int = 2000,
    options: int = 1000,
    coupon_pct: int = 100,
    rows: int = 100_000,
    name: str = "pgbench: one order + payment's SQL",
) -> PgbenchResult:
    """sql/payment.sql, `clients` at once. `options=1`: every payment buys the same option (the hot
    option variant); `coupon_pct`: the share of payments that use a coupon, as in the scenario."""
    with scratch_database(database_url) as url:
        migrate(url, list(PAYMENT_SCHEMAS.values()))

        async def seed() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(SEED.format(users=users, options=options, rows=rows))
            finally:
                await conn.close()

        asyncio.run(seed())
        return _run(
            name,
            url,
            SQL / "payment.sql",
            clients=clients,
            seconds=seconds,
            defines={"users": users, "options": options, "coupon_pct": coupon_pct},
        )
