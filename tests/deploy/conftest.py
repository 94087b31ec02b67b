"""Fixtures of the deployment tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from deploy_support import K8S, render_directory


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[dict[str, Any]]]:
    """`render("overlays/local")` -> the rendered documents (cached per session). The name
    `all-components` renders the base with every component, as no overlay does."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def get(name: str) -> list[dict[str, Any]]:
        if name not in cache:
            if name == "all-components":
                directory = tmp_path_factory.mktemp("all-components")
                up = os.path.relpath(K8S, directory)
                components = sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir())
                (directory / "kustomization.yaml").write_text(
                    yaml.safe_dump(
                        {
                            "apiVersion": "kustomize.config.k8s.io/v1beta1",
                            "kind": "Kustomization",
                            "namespace": "commerce",
                            "resources": [f"{up}/base"],
                            "components": [f"{up}/components/{c}" for c in components],
                        }
                    )
                )
            else:
                directory = K8S / name
            cache[name] = render_directory(directory)
        return cache[name]

    return get
