"""End-to-end fixtures: the whole suite (every installed service and the nginx gateway) started
by devstack on free ports, on this session's database, Redis db and topic prefix (the kit
plugin's `test_env`), with a JWT secret of its own. It runs beside `make run` without touching it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from commerce_kit.auth import ADMIN, mint_token
from devstack.launcher import Suite, free_port
from devstack.services import SUITE, Service
from devstack.system import port_free


@dataclass
class RunningSuite:
    gateway_url: str
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)

    def token(self, user_id: int, admin: bool = False) -> str:
        return mint_token(self.env["JWT_SECRET"], user_id, [ADMIN] if admin else [], 600)

    def auth(self, user_id: int, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, admin)}"}

    def service_url(self, name: str) -> str:
        service = next(s for s in self.services if s.name == name)
        return f"http://127.0.0.1:{service.port(self.env)}"


def _service_port_base() -> int:
    """A SERVICE_PORT_BASE whose base+1 .. base+6 are all free."""
    for _ in range(100):
        base = free_port() - 1
        if all(port_free(base + s.offset) for s in SUITE):
            return base
    raise RuntimeError("no free run of service ports found")


@pytest.fixture(scope="session")
def suite(test_env: dict[str, str]) -> Iterator[RunningSuite]:
    env = {
        **test_env,
        "GATEWAY_PORT": str(free_port()),
        "SERVICE_PORT_BASE": str(_service_port_base()),
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
    running = Suite(env)
    running.start()  # migrations, services ready, gateway /health 200 (bounded waits)
    try:
        yield RunningSuite(running.gateway_url, running.env, running.services)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def gateway(suite: RunningSuite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=suite.gateway_url, timeout=10) as client:
        yield client
