"""The configuration variables (API.md "Configuration") with their local defaults, and where the
stack keeps its state and downloads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from commerce_kit.settings import LOCAL_JWT_SECRET

DEFAULTS: dict[str, str] = {
    "APP_ENV": "local",
    "GATEWAY_PORT": "8080",
    "SERVICE_PORT_BASE": "8100",
    "SERVICE_HOST": "127.0.0.1",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/commerce",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "TOPIC_PREFIX": "",
    "JWT_SECRET": LOCAL_JWT_SECRET,
    # Per client address. Generous on purpose: above what the services can serve on a small machine,
    # so it stops runaway clients and never throttles a benchmark.
    "GATEWAY_RATE_LIMIT": "5000r/s",
    "GATEWAY_RATE_BURST": "10000",
}


def environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, completed with the defaults, then `overrides` on top."""
    return {**DEFAULTS, **os.environ, **(overrides or {})}


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Servers' data, configuration, pid and log files: `<state>/<kind>-<port>/`."""
    return Path(env.get("COMMERCE_STATE_DIR") or Path.home() / ".local/state/commerce")


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Downloads that can be fetched again (the Kafka jars)."""
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "commerce"


def repo_root() -> Path:
    """The repository (devstack is installed editable from tools/devstack): deploy/local lives there."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "deploy/local").is_dir():
            return parent
    raise RuntimeError("cannot find the repository's deploy/local directory above " + __file__)


def host_port(url_or_address: str, default_port: int) -> tuple[str, int]:
    """`postgresql://u@h:p/db`, `redis://h:p/0` or `h:p[,h2:p2]` (the first server) -> (h, p)."""
    first = url_or_address.split(",")[0].strip()
    parts = urlsplit(first if "://" in first else f"//{first}")
    return parts.hostname or "127.0.0.1", parts.port or default_port
