"""The suite's services as the launcher and the gateway see them (docs/conventions.md "Services").

`SUITE` lists the services that exist: `make run` and the end-to-end tests start each of them and
the gateway routes their paths. A new service is one line here (the table in docs/conventions.md
has the rest; the lines below are ready to uncomment).

Ports: instance 1 of every service listens on SERVICE_PORT_BASE + its offset (API.md), a worker
process of a service (`Worker`, not routed by the gateway) on SERVICE_PORT_BASE + its own; with N
instances (`Suite(env, instances=N)`, `make run INSTANCES=N`), instance k listens on
SERVICE_PORT_BASE_<k> + its offset (default: SERVICE_PORT_BASE + 100 * (k - 1)), and the services
reach one another through the gateway's internal balancers on SERVICE_LB_PORT_BASE + offset
(default SERVICE_PORT_BASE + 50), one per service, as they would through a Kubernetes Service.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from commerce_kit.settings import SERVICES as PORT_OFFSETS  # name -> (port offset, schema)


@dataclass(frozen=True)
class Worker:
    """A process of a service that the gateway does not route to: the same package and command
    (`serve`, whose health and metrics it answers on its own port), started with settings of its
    own. The coupon service settles issue requests in one (`coupon-issuer`), so that settling never
    takes CPU from the issue route's process."""

    name: str
    #: Its port: SERVICE_PORT_BASE + offset (instance k: that instance's base + offset).
    offset: int
    #: Settings of its own, over the suite's.
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    #: Public paths under /api/v1 that this service owns: each matches itself and everything below
    #: it; `{id}` stands for one path segment.
    paths: tuple[str, ...]
    #: Settings of its API processes, over the suite's.
    env: tuple[tuple[str, str], ...] = ()
    #: Its other processes.
    workers: tuple[Worker, ...] = ()

    @property
    def offset(self) -> int:
        return PORT_OFFSETS[self.name][0]

    @property
    def offsets(self) -> tuple[int, ...]:
        """The port offsets of all its processes (the API first)."""
        return (self.offset, *(w.offset for w in self.workers))

    def port(self, env: Mapping[str, str], instance: int = 1) -> int:
        """Where instance `instance` (1, 2, ...) of this service listens."""
        return port_base(env, instance) + self.offset

    def balancer_port(self, env: Mapping[str, str]) -> int:
        """The gateway's internal balancer over every instance (only with more than one)."""
        return balancer_base(env) + self.offset

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


#: Instance k > 1 listens on base + INSTANCE_STRIDE * (k - 1) unless SERVICE_PORT_BASE_<k> says.
INSTANCE_STRIDE = 100
#: The internal balancers listen on base + BALANCER_OFFSET unless SERVICE_LB_PORT_BASE says.
BALANCER_OFFSET = 50


def port_base(env: Mapping[str, str], instance: int = 1) -> int:
    """The SERVICE_PORT_BASE of instance `instance` (1: SERVICE_PORT_BASE itself)."""
    if instance < 1:
        raise ValueError(f"instances count from 1, not {instance}")
    base = int(env["SERVICE_PORT_BASE"])
    if instance == 1:
        return base
    own = env.get(f"SERVICE_PORT_BASE_{instance}")
    return int(own) if own else base + INSTANCE_STRIDE * (instance - 1)


def balancer_base(env: Mapping[str, str]) -> int:
    own = env.get("SERVICE_LB_PORT_BASE")
    return int(own) if own else int(env["SERVICE_PORT_BASE"]) + BALANCER_OFFSET


def instance_name(name: str, instance: int = 1) -> str:
    """The process's name: `payment` for instance 1 (as with one instance), `payment-2` after."""
    return name if instance == 1 else f"{name}-{instance}"


SUITE: tuple[Service, ...] = (
    Service("user", "user_service", ("/admin/users", "/users/{id}/balance", "/users/{id}/transactions")),
    Service("catalog", "catalog_service", ("/products", "/admin/products")),
    Service(
        "coupon",
        "coupon_service",
        ("/coupons", "/admin/coupons", "/users/{id}/coupons"),
        env=(("COUPON_ISSUE_CONSUMER", "false"),),
        workers=(Worker("coupon-issuer", 7, (("COUPON_ISSUE_CONSUMER", "true"),)),),
    ),
    Service("order", "order_service", ("/orders", "/users/{id}/orders")),
    Service("payment", "payment_service", ("/payments",)),
    Service("ranking", "ranking_service", ("/products/popular", "/admin/rankings")),
)


def select(names: Iterable[str] | None = None) -> list[Service]:
    """The named services (all of SUITE when `names` is None), in the table's order."""
    wanted = {s.name for s in SUITE} if names is None else set(names)
    unknown = wanted - {s.name for s in SUITE}
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))} (see devstack/services.py)")
    chosen = [s for s in SUITE if s.name in wanted]
    missing = [s.package for s in chosen if not s.installed()]
    if missing:
        raise ValueError(f"not installed: {', '.join(missing)} (run `uv sync --all-packages`)")
    return chosen
