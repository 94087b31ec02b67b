"""End-to-end fixtures: the whole suite (every installed service and the nginx gateway) started
by devstack on free ports, on this session's database, Redis db and topic prefix (the kit
plugin's `test_env`), with a JWT secret of its own. It runs beside `make run` without touching it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from shop import Shop

from commerce_kit.auth import ADMIN, mint_token
from devstack.launcher import Suite, free_port
from devstack.services import SUITE, Service
from devstack.system import port_free


@dataclass
class RunningSuite:
    gateway_url: str
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)
    launched: Suite | None = None

    def kill(self, name: str) -> None:
        """SIGKILL one service (fault tests); `restart` brings it back."""
        assert self.launched is not None
        self.launched.kill(name)

    def restart(self, name: str) -> None:
        assert self.launched is not None
        self.launched.restart(name)

    @property
    def data_platform_url(self) -> str:
        return self.env["DATA_PLATFORM_URL"]

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
        # Above what the concurrency tests send for one user at once (20 retries of one payment);
        # the rate-limit tests go beyond it.
        "PAYMENT_RATE_PER_USER": "50",
        "COUPON_ISSUE_RATE_PER_USER": "50",
    }
    running = Suite(env)
    running.start()  # migrations, services ready, gateway /health 200 (bounded waits)
    try:
        yield RunningSuite(running.gateway_url, running.env, running.services, running)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def gateway(suite: RunningSuite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=suite.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def gateway_url(suite: RunningSuite) -> str:
    return suite.gateway_url


@pytest.fixture(scope="session")
def jwt_secret(suite: RunningSuite) -> str:
    return suite.env["JWT_SECRET"]


@pytest.fixture(scope="session")
def coupon_service_url(suite: RunningSuite) -> str:
    """The coupon service's internal API (to use a coupon as the payment saga does)."""
    return suite.service_url("coupon")


@pytest.fixture(scope="session")
def coupon_database_url(suite: RunningSuite) -> str:
    """To move a coupon past its expiry, which no API can do."""
    return suite.env.get("COUPON_DATABASE_URL") or suite.env["DATABASE_URL"]


@pytest_asyncio.fixture(scope="session")
async def shop(gateway_url: str, jwt_secret: str) -> AsyncIterator[Shop]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        yield Shop(http, jwt_secret)
