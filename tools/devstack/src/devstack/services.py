"""The suite's services as the launcher and the gateway see them (docs/conventions.md "Services").

`SUITE` lists the services that exist: `make run` and the end-to-end tests start each of them and
the gateway routes their paths. A new service is one line here (the table in docs/conventions.md
has the rest; the lines below are ready to uncomment).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from commerce_kit.settings import SERVICES as PORT_OFFSETS  # name -> (port offset, schema)


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    #: Public paths under /api/v1 that this service owns: each matches itself and everything below
    #: it; `{id}` stands for one path segment.
    paths: tuple[str, ...]

    @property
    def offset(self) -> int:
        return PORT_OFFSETS[self.name][0]

    def port(self, env: Mapping[str, str]) -> int:
        return int(env["SERVICE_PORT_BASE"]) + self.offset

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


SUITE: tuple[Service, ...] = (
    Service("user", "user_service", ("/admin/users", "/users/{id}/balance", "/users/{id}/transactions")),
    Service("catalog", "catalog_service", ("/products", "/admin/products")),
    Service("coupon", "coupon_service", ("/coupons", "/admin/coupons", "/users/{id}/coupons")),
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
