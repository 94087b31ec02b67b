"""The suite a fault test breaks: devstack's `Suite` (1 or N instances of every service, the nginx
gateway, the data-platform stand-in) on free loopback ports, on a fresh database of the shared
PostgreSQL, a Redis server of the test's own (it may be flushed or restarted), and a Kafka broker
of the fault session's own (or of the test's own, when the test stops it) under a fresh topic prefix.
`Stack` is what the tests hold: the suite, an observer connection to the database, the gateway as
a shop client, and the faults themselves."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis
from shop import Shop

from commerce_kit.auth import ADMIN, mint_token
from commerce_kit.db import plain_url
from devstack import infra
from devstack.infra import OwnServer
from devstack.launcher import Suite
from devstack.services import BALANCER_OFFSET, INSTANCE_STRIDE, SUITE
from devstack.system import quiet_port, quiet_run

#: What every fault suite runs with, beside the ports and servers: generous per-user rates (the
#: loads retry), small database pools (twelve processes share one PostgreSQL with other work), and
#: quick background jobs so that recovery is observed within the tests' bounds.
SUITE_SETTINGS = {
    "APP_ENV": "test",
    "PAYMENT_RATE_PER_USER": "200",
    "COUPON_ISSUE_RATE_PER_USER": "200",
    "DB_POOL_MIN": "1",
    "DB_POOL_MAX": "8",
    "COUPON_RECONCILE_SECONDS": "1",
    "PAYMENT_RECOVERY_INTERVAL_SECONDS": "0.5",
    "LOG_LEVEL": "WARNING",
}


def port_layout(instances: int) -> dict[str, str]:
    """GATEWAY_PORT, SERVICE_PORT_BASE (and, with N instances, the other instances' bases and the
    balancers' base) such that every port of the layout is free right now, below the ephemeral range."""
    offsets = [INSTANCE_STRIDE * k + o for k in range(instances) for s in SUITE for o in s.offsets]
    if instances > 1:
        offsets += [BALANCER_OFFSET + s.offset for s in SUITE]
    base = quiet_run(offsets)
    layout = {"GATEWAY_PORT": str(quiet_port()), "SERVICE_PORT_BASE": str(base)}
    layout |= {f"SERVICE_PORT_BASE_{k + 1}": str(base + INSTANCE_STRIDE * k) for k in range(1, instances)}
    return layout


#: The suites running now: when a test fails, conftest.py shows what their services said last.
RUNNING: list[Suite] = []


def last_lines() -> str:
    return "\n".join(
        f"--- the last lines of {child.name} ---\n{child.tail()}"
        for suite in RUNNING
        for child in suite.children
    )


@dataclass
class Stack:
    suite: Suite
    env: dict[str, str]
    db: asyncpg.Connection
    shop: Shop
    redis: OwnServer
    kafka_bootstrap: str
    instances: int
    started_at: float = field(default_factory=time.monotonic)

    # --- what the suite is ---------------------------------------------------------------------

    @property
    def data_platform_url(self) -> str:
        return self.env["DATA_PLATFORM_URL"]

    @property
    def topic_prefix(self) -> str:
        return self.env["TOPIC_PREFIX"]

    def service_url(self, name: str, instance: int = 1) -> str:
        return self.suite.service_url(name, instance)

    def redis_client(self) -> aioredis.Redis:
        """A client of the suite's own Redis (the caller closes it)."""
        return aioredis.from_url(self.env["REDIS_URL"])

    def admin_token(self) -> str:
        return mint_token(self.env["JWT_SECRET"], 999_999_999, [ADMIN], 600)

    async def metrics(self, name: str, instance: int = 1) -> dict[str, float]:
        """One instance's Prometheus samples: `metric{labels}` -> value (summed if repeated)."""
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{self.service_url(name, instance)}/metrics")).text
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = samples.get(key, 0.0) + float(value)
        return samples

    async def metric(self, name: str, pattern: str, instance: int = 1) -> float:
        """The sum of one instance's samples whose `metric{labels}` matches the regex `pattern`."""
        found = await self.metrics(name, instance)
        return sum(v for k, v in found.items() if re.fullmatch(pattern, k))

    # --- faults (the blocking ones run in a thread: the load goes on meanwhile) ------------------

    async def kill(self, name: str, instance: int = 1) -> None:
        await asyncio.to_thread(self.suite.kill, name, instance=instance)

    async def restart(self, name: str, instance: int = 1) -> None:
        await asyncio.to_thread(self.suite.restart, name, instance=instance)

    async def pause(self, name: str, instance: int = 1) -> None:
        await asyncio.to_thread(self.suite.pause, name, instance=instance)

    async def resume(self, name: str, instance: int = 1) -> None:
        await asyncio.to_thread(self.suite.resume, name, instance=instance)

    async def platform_mode(self, mode: str, delay_seconds: float = 10.0) -> None:
        """The data-platform stand-in answers `ok`, `fail` (500) or `slow` (after `delay_seconds`)."""
        url = self.data_platform_url.replace("/payments", "/_mode")
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(url, json={"mode": mode, "delaySeconds": delay_seconds})
            assert answer.status_code == 200 and answer.json()["mode"] == mode, answer.text


async def _create_database(server_url: str) -> str:
    parts = urlsplit(plain_url(server_url))
    name = f"commerce_f{secrets.token_hex(4)}"
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _drop_database(url: str) -> None:
    parts = urlsplit(url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def launch(
    postgres_url: str,
    kafka_bootstrap: str,
    home: Path,
    *,
    instances: int = 1,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """The suite on a fresh database (dropped afterwards), a Redis of its own at a free port (stopped
    afterwards) and `kafka_bootstrap` under a fresh topic prefix; `settings` on top of
    SUITE_SETTINGS. Yields once every instance is ready and the gateway's /health says so."""
    database_url = await _create_database(postgres_url)
    redis = await asyncio.to_thread(infra.own_redis, f"redis://127.0.0.1:{quiet_port()}/0", home / "redis")
    prefix = f"f{secrets.token_hex(4)}."
    suite: Suite | None = None
    try:
        await asyncio.to_thread(infra.ensure_topics, kafka_bootstrap, prefix)
        env = {
            **SUITE_SETTINGS,
            **port_layout(instances),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "TOPIC_PREFIX": prefix,
            "JWT_SECRET": secrets.token_urlsafe(48),
            **(settings or {}),
        }
        suite = Suite(env, instances=instances)
        await asyncio.to_thread(suite.start)
        db = await asyncpg.connect(database_url)
        RUNNING.append(suite)
        try:
            async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=60) as http:
                yield Stack(
                    suite,
                    suite.env,
                    db,
                    Shop(http, suite.env["JWT_SECRET"]),
                    redis,
                    kafka_bootstrap,
                    instances,
                )
        finally:
            RUNNING.remove(suite)
            await db.close()
    finally:
        if suite is not None:
            await asyncio.to_thread(suite.stop)
        await asyncio.to_thread(redis.stop)
        await _drop_database(database_url)


def own_kafka(home: Path) -> OwnServer:
    """A single-node Kafka broker at a free loopback port (its log under `home`)."""
    from devstack.config import environment

    return infra.own_kafka(f"127.0.0.1:{quiet_port()}", environment(), home)


def describe(answer: httpx.Response) -> str:
    return f"{answer.request.method} {answer.request.url.path} -> {answer.status_code} {answer.text[:300]}"


__all__ = ["SUITE_SETTINGS", "Stack", "describe", "launch", "own_kafka", "port_layout"]
