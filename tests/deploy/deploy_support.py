"""Shared by the deployment tests (a module of its own name: `conftest` is ambiguous when the whole
repository's tests run together)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from commerce_kit.settings import SERVICES

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
