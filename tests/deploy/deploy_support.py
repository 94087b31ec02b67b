"""Shared by the deployment tests (a module of its own name: `conftest` is ambiguous when the whole
repository's tests run together)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from commerce_contracts.registry import COUPON_ISSUE, Topic
from commerce_kit.settings import SERVICES
from devstack.services import SUITE, Service, Worker

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose"
DOCKERFILE = DEPLOY / "docker" / "service.Dockerfile"

#: What every service process must find in its environment (API.md "Configuration").
REQUIRED_CONFIG = {
    "APP_ENV",
    "DATABASE_URL",
    "JWT_SECRET",
    "KAFKA_BOOTSTRAP_SERVERS",
    "REDIS_URL",
    "TOPIC_PREFIX",
} | {f"{name.upper()}_SERVICE_URL" for name in SERVICES}

#: The whole suite as the deployment serves it: every service of docs/conventions.md (the six of
#: commerce_kit.settings.SERVICES) with its public paths under /api/v1, in the form of the local
#: gateway's route table (tools/devstack services.SUITE, which lists only the services that exist yet:
#: ranking joins it when its service lands). The deployment covers all six either way;
#: test_the_route_tables_agree keeps the two tables in line, processes and settings included: a
#: service's `env` is set on its API's container, and each of its `workers` is deployed next to it
#: (same image and command, the worker's `env` over the shared settings, never routed).
WHOLE_SUITE: tuple[Service, ...] = (
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
SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in WHOLE_SUITE)
#: Every worker process of the suite with its service: (service, worker).
WORKERS: tuple[tuple[Service, Worker], ...] = tuple((s, w) for s in WHOLE_SUITE for w in s.workers)
WORKER_NAMES: tuple[str, ...] = tuple(w.name for _, w in WORKERS)
#: The topics each worker consumes. Kafka gives each partition of a topic to one consumer of a group,
#: so the replicas of a worker beyond its topics' partitions sit idle: they bound its HPA.
#: test_each_worker_consumes_the_topics_that_bound_it checks this against the consumer in the code.
WORKER_TOPICS: dict[str, tuple[Topic, ...]] = {"coupon-issuer": (COUPON_ISSUE,)}

#: Every public endpoint of API.md (/work/shared/API.md, "HTTP contract, v1"), ids filled in, and the
#: service that owns it: (method, path under /api/v1, owner).
API_ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("POST", "/admin/users", "user"),
    ("GET", "/users/7/balance", "user"),
    ("POST", "/users/7/balance/charge", "user"),
    ("GET", "/users/7/transactions?size=5", "user"),
    ("POST", "/admin/products", "catalog"),
    ("PUT", "/admin/products/7/options/3/stock", "catalog"),
    ("GET", "/products?size=20", "catalog"),
    ("GET", "/products/7", "catalog"),
    ("GET", "/products/popular?days=3&limit=5", "ranking"),
    ("POST", "/admin/rankings/rebuild", "ranking"),
    ("POST", "/admin/coupons", "coupon"),
    ("GET", "/admin/coupons/7", "coupon"),
    ("POST", "/coupons/7/issue", "coupon"),
    ("GET", "/coupons/issue-requests/0b6c1e9e-3f0a-4c55-9d61-7a0d2b8f1c33", "coupon"),
    ("GET", "/users/7/coupons?status=ALL", "coupon"),
    ("POST", "/orders", "order"),
    ("GET", "/orders/7", "order"),
    ("GET", "/users/7/orders", "order"),
    ("POST", "/orders/7/cancel", "order"),
    ("POST", "/payments", "payment"),
    ("GET", "/payments/7", "payment"),
)

#: The service-to-service calls that exist (docs/internal-api.md and the services' adapters):
#: (caller, callee). The network policies allow exactly these on port 8000.
CALLS: frozenset[tuple[str, str]] = frozenset(
    {
        ("order", "catalog"),  # option lookup (prices, names)
        ("order", "coupon"),  # the user coupon's terms
        ("order", "payment"),  # refund when a paid order is cancelled
        ("payment", "order"),  # the saga: read the order, mark it paid / refunded
        ("payment", "catalog"),  # stock take / give back
        ("payment", "user"),  # debit / give back
        ("payment", "coupon"),  # use / restore the coupon
        ("ranking", "order"),  # the backfill of paid orders
    }
)

#: Settings a service reads that the shared configuration does not hold (docs/conventions.md, the
#: services' settings.py).
OWN_SETTINGS: dict[str, set[str]] = {"payment": {"DATA_PLATFORM_URL"}, "ranking": {"APP_ZONE"}}


def callees(name: str) -> set[str]:
    return {callee for caller, callee in CALLS if caller == name}


def in_suite(name: str) -> bool:
    """Whether tools/devstack lists the service yet (ranking is commented out until it lands)."""
    return any(s.name == name for s in SUITE)


def redis_users() -> set[str]:
    """The services whose composition root opens Redis (`rt.open_redis()` in its `bootstrap.py`):
    only they are let through to Redis, and only they wait for it."""
    users = set()
    for name in SERVICE_NAMES:
        bootstrap = REPO / "services" / name / "src" / f"{name}_service" / "bootstrap.py"
        if bootstrap.exists() and re.search(r"\.open_redis\(", bootstrap.read_text()):
            users.add(name)
    return users


def tool(name: str) -> str | None:
    """A command from this environment's bin directory (dev dependencies) or from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def kustomize_command() -> list[str] | None:
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


def render_directory(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kubectl nor kustomize is installed: the manifests cannot be rendered")
    done = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kustomize failed for {directory}:\n{done.stderr}"
    documents = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert documents, f"{directory} rendered nothing"
    return documents


def internal_calls_in_code() -> set[tuple[str, str]]:
    """(caller, callee) as the code has them: every `/internal/v1/...` path a service's source asks for,
    matched against the routes each service's entrypoints/internal.py serves."""
    routes: dict[str, list[re.Pattern[str]]] = {}
    for name in SERVICE_NAMES:
        internal = REPO / "services" / name / "src" / f"{name}_service" / "entrypoints" / "internal.py"
        if internal.exists():
            paths = re.findall(r'@router\.(?:get|put|post|patch|delete)\(\s*"([^"]+)"', internal.read_text())
            routes[name] = [
                re.compile("/internal/v1" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)) + r"\Z")
                for p in paths
            ]
    calls = set()
    for caller in SERVICE_NAMES:
        for source in (REPO / "services" / caller / "src").rglob("*.py"):
            if source.parts[-2:] == ("entrypoints", "internal.py"):
                continue
            for path in re.findall(r'f?"(/internal/v1/[^"?]+)', source.read_text()):
                probe = re.sub(r"\{[^}]*\}", "7", path)
                calls |= {
                    (caller, callee)
                    for callee, patterns in routes.items()
                    if callee != caller and any(p.match(probe) for p in patterns)
                }
    return calls
