"""The suite under test: started by devstack's `Suite` on free ports, on a database, Redis db and topic
prefix of its own (the way the end-to-end tests do it), so that a running `make run` is never
disturbed; or a suite already running at a URL (`--url`), described by the usual variables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from commerce_kit.auth import ADMIN, mint_token
from commerce_kit.messaging import delete_topics
from devstack import gateway, infra
from devstack.config import environment
from devstack.launcher import Suite
from devstack.services import SUITE, Service, select
from devstack.system import quiet_port, quiet_run

#: The bench's Redis db (`make run` uses 0, the tests TEST_REDIS_DB = 15); BENCH_REDIS_DB overrides it.
DEFAULT_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))


@dataclass
class Stack:
    gateway_url: str
    env: dict[str, str]
    services: list[Service]
    suite: Suite | None = None  # None: a suite someone else runs (--url)
    notes: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    @property
    def jwt_secret(self) -> str:
        return self.env["JWT_SECRET"]

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.services)

    def service_url(self, name: str) -> str:
        """Where a service's API, or one of its workers (`coupon-issuer`), listens."""
        for s in self.services:
            offset = (
                s.offset if s.name == name else next((w.offset for w in s.workers if w.name == name), None)
            )
            if offset is not None:
                port = s.port(self.env) - s.offset + offset
                return f"http://{self.env.get('SERVICE_HOST', '127.0.0.1')}:{port}"
        raise KeyError(f"no process named {name}")

    def pid_of(self, name: str) -> int | None:
        """The process of a service this run started (for py-spy)."""
        if self.suite is None:
            return None
        child = next((c for c in self.suite.children if c.name == name and c.alive()), None)
        return child.proc.pid if child else None

    def pids(self) -> dict[str, int]:
        """The processes this run started (services, gateway, data platform stand-in) by name."""
        if self.suite is None:
            return {}
        found = {c.name: c.proc.pid for c in self.suite.children if c.alive()}
        if "gateway" in found:  # nginx's master only supervises: the worker does the work
            for worker in _children_of(found.pop("gateway")):
                found[f"gateway (nginx {worker})"] = worker
        return found

    def token(self, user_id: int, admin: bool = False, ttl: int = 3 * 3600) -> str:
        return mint_token(self.jwt_secret, user_id, [ADMIN] if admin else [], ttl)


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def _service_port_base() -> int:
    # Below the ephemeral range: a port the kernel picked (free_port) was once taken by one of the
    # suite's own outgoing connections before its service could bind it.
    return quiet_run([o for s in SUITE for o in s.offsets])


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


async def _flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def _drop_database(url: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def started(
    redis_db: int = DEFAULT_REDIS_DB, keep: bool = False, echo=None, logs: Path | None = None
) -> Iterator[Stack]:
    """Infrastructure (devstack: used where it answers, else started), then the suite on free ports
    with a fresh database `commerce_bench_<hex>`, Redis db `redis_db` (flushed first), a fresh topic
    prefix and a JWT secret of its own. Everything is stopped and dropped afterwards (`keep`: the
    database and topics stay, for a look at them); with `logs`, each process's last lines and the
    gateway's error log are kept there."""
    base = environment()
    namespace = "bench" + secrets.token_hex(3)
    env = {
        **base,
        "APP_ENV": "test",
        "DATABASE_URL": _with_database(base["DATABASE_URL"], f"commerce_{namespace}"),
        "REDIS_URL": _with_redis_db(base["REDIS_URL"], redis_db),
        "TOPIC_PREFIX": f"{namespace}.",
        "GATEWAY_PORT": str(quiet_port()),
        "SERVICE_PORT_BASE": str(_service_port_base()),
        "JWT_SECRET": secrets.token_urlsafe(48),
        # The gateway's per-client limit must not be what a benchmark from one address measures.
        "GATEWAY_RATE_LIMIT": "1000000r/s",
        "GATEWAY_RATE_BURST": "1000000",
        "DEMO_DATA": "false",
        "LOG_LEVEL": "WARNING",
    }
    infra.ensure_infra(env)  # creates the database and the prefixed topics too
    asyncio.run(_flush_redis(env["REDIS_URL"]))
    suite = Suite(env, echo=echo)
    suite.start()
    stack = Stack(suite.gateway_url, suite.env, list(suite.services), suite)
    try:
        yield stack
    finally:
        if logs is not None:  # the last lines each process printed (errors, with LOG_LEVEL=WARNING)
            logs.mkdir(parents=True, exist_ok=True)
            for child in suite.children:
                (logs / f"{child.name}.log").write_text("\n".join(child.lines) + "\n")
            error_log = gateway.home(suite.env) / "error.log"
            if error_log.exists():
                (logs / "gateway-error.log").write_text(error_log.read_text(errors="replace")[-200_000:])
        suite.stop()
        if not keep:
            with contextlib.suppress(Exception):
                asyncio.run(_drop_database(env["DATABASE_URL"]))
            with contextlib.suppress(Exception):
                asyncio.run(delete_topics(env["KAFKA_BOOTSTRAP_SERVERS"], env["TOPIC_PREFIX"]))


def attached(url: str) -> Stack:
    """A suite someone else runs: its gateway at `url`, the rest (database, Redis, JWT secret,
    service ports) from the same variables `make run` reads."""
    env = environment()
    answer = httpx.get(url.rstrip("/") + "/health", timeout=5)
    if answer.status_code != 200:
        raise RuntimeError(f"{url}/health answers {answer.status_code}: the suite is not ready")
    ready = answer.json()
    services = select(None)
    listed = ready.get("services") if isinstance(ready, dict) else None
    if isinstance(listed, dict):
        services = [s for s in services if s.name in listed]
    return Stack(url.rstrip("/"), env, services, None)
