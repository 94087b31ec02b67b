"""Where the test servers are: containers (Docker) or this machine's local servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Infra:
    postgres_url: str  # a server URL; the database part is replaced per session
    redis_url: str  # redis://host:port (the db number is chosen per session)
    kafka_bootstrap: str
    mode: str


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def choose_mode() -> str:
    mode = os.environ.get("TEST_INFRA", "auto")
    if mode not in {"auto", "docker", "local"}:
        raise ValueError(f"TEST_INFRA must be auto, docker or local, not {mode!r}")
    if mode == "auto":
        mode = "docker" if _docker_answers() else "local"
    return mode


def local_infra() -> Infra:
    pg = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/commerce")
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    missing = []
    for name, url in (("PostgreSQL", pg), ("Redis", redis)):
        parts = urlsplit(url)
        if not _reachable(parts.hostname or "127.0.0.1", parts.port or 0):
            missing.append(f"{name} at {parts.hostname}:{parts.port}")
    khost, _, kport = kafka.split(",")[0].rpartition(":")
    if not _reachable(khost, int(kport)):
        missing.append(f"Kafka at {kafka}")
    if missing:
        raise RuntimeError(
            "TEST_INFRA=local but nothing answers: "
            + ", ".join(missing)
            + ". Run `make infra` (installs and starts them) or use TEST_INFRA=docker."
        )
    redis_parts = urlsplit(redis)
    return Infra(pg, urlunsplit(redis_parts._replace(path="")), kafka, "local")


def docker_infra(stack: ExitStack) -> Infra:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer

    pg = stack.enter_context(
        PostgresContainer("postgres:16-alpine", username="postgres", password="postgres")
    )
    redis = stack.enter_context(RedisContainer("redis:7-alpine"))
    kafka = stack.enter_context(KafkaContainer("confluentinc/cp-kafka:7.8.0").with_kraft())
    pg_url = (
        f"postgresql://postgres:postgres@{pg.get_container_host_ip()}:{pg.get_exposed_port(5432)}/postgres"
    )
    redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}"
    return Infra(pg_url, redis_url, kafka.get_bootstrap_server(), "docker")
