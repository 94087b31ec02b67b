"""The nginx gateway: renders deploy/local/nginx/gateway.conf.template for GATEWAY_PORT and the
services being run, and gives the command that runs nginx in the foreground (a child process of the
launcher). Its files live in `<state>/nginx-<port>/`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.config import DEFAULTS, repo_root, state_dir
from devstack.services import Service
from devstack.system import DevstackError, is_root, run

NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian's libnginx-mod-http-js


def nginx_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def missing_packages() -> list[str]:
    missing = [] if nginx_binary() else ["nginx"]
    if not NJS_MODULE.exists():
        missing.append("libnginx-mod-http-js")
    return missing


def home(env: Mapping[str, str]) -> Path:
    return state_dir() / f"nginx-{env['GATEWAY_PORT']}"


def route_regex(path: str) -> str:
    """`/users/{id}/balance` -> `^/api/v1/users/[^/]+/balance(?:/|$)`: the path and anything below it."""
    pieces = [r"[^/]+" if p == "{id}" else re.escape(p) for p in re.split(r"(\{id\})", path) if p]
    return "^/api/v1" + "".join(pieces) + "(?:/|$)"


def render(env: Mapping[str, str], services: Sequence[Service]) -> str:
    host = env.get("SERVICE_HOST", "127.0.0.1")
    upstreams = "".join(
        f"    upstream svc_{s.name} {{\n"
        f"        server {host}:{s.port(env)};\n"
        "        keepalive 64;\n"
        # Below uvicorn's 5 s keep-alive, so nginx never reuses a connection the service is closing.
        "        keepalive_timeout 4s;\n"
        "    }\n"
        for s in services
    )
    docs = "".join(
        f"        location = /docs/{s.name} {{ proxy_pass http://svc_{s.name}/docs; }}\n"
        f"        location = /docs/{s.name}/openapi.json {{ proxy_pass http://svc_{s.name}/openapi.json; }}\n"
        # Each service's liveness through the gateway: the benchmarks' per-service baseline.
        f"        location = /health/{s.name}/live {{ proxy_pass http://svc_{s.name}/health/live; }}\n"
        for s in services
    )
    # Regex locations are tried in order and the first match wins: the most specific (longest)
    # paths first, so /products/popular (ranking) is tried before /products (catalog).
    rules = sorted(((path, s) for s in services for path in s.paths), key=lambda r: -len(r[0]))
    routes = "".join(
        f'        location ~ "{route_regex(path)}" {{ proxy_pass http://svc_{s.name}; }}\n'
        for path, s in rules
    )
    values = {
        "load_njs": f"load_module {NJS_MODULE};" if NJS_MODULE.exists() else "# njs: built into this nginx",
        # As root, the workers run as nobody; they never touch the state directory (see below).
        "user": "user nobody nogroup;" if is_root() else "# not root: the workers run as this user",
        "state": str(home(env)),
        "njs_dir": str(repo_root() / "deploy/local/nginx"),
        "rate": env.get("GATEWAY_RATE_LIMIT", DEFAULTS["GATEWAY_RATE_LIMIT"]),
        "burst": env.get("GATEWAY_RATE_BURST", DEFAULTS["GATEWAY_RATE_BURST"]),
        "listen": f"127.0.0.1:{env['GATEWAY_PORT']}",
        "health_targets": " ".join(f"{s.name}={host}:{s.port(env)}" for s in services),
        "upstreams": upstreams,
        "docs": docs,
        "routes": routes,
    }
    text = (repo_root() / "deploy/local/nginx/gateway.conf.template").read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def prepare(env: Mapping[str, str], services: Sequence[Service]) -> tuple[list[str], Path]:
    """Write and test the configuration; return nginx's foreground command and its error log."""
    nginx = nginx_binary()
    if nginx is None:
        raise DevstackError("nginx is not installed: run `make infra`")
    prefix = home(env)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf, log = prefix / "nginx.conf", prefix / "error.log"
    conf.write_text(render(env, services))
    # -e: where nginx logs before it has read the configuration.
    command = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(log)]
    run([*command, "-t", "-q"], what=f"checking the gateway's configuration {conf}")
    return [*command, "-g", "daemon off;"], log
