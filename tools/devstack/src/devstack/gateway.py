"""The nginx gateway: renders deploy/local/nginx/gateway.conf.template for GATEWAY_PORT and the
services being run, and gives the command that runs nginx in the foreground (a child process of the
launcher). Its files live in `<state>/nginx-<port>/`.

With N instances of each service, each upstream lists every instance (round robin; an instance that
refuses a connection or times out is skipped for FAIL_TIMEOUT, and the request goes to the next one
when nothing was sent yet), and the gateway also balances the services' calls to one another: one
internal listener per service on loopback (SERVICE_LB_PORT_BASE + offset), never the public port."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.config import DEFAULTS, repo_root, state_dir
from devstack.services import Service, instance_name
from devstack.system import DevstackError, is_root, run

NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian's libnginx-mod-http-js
#: With N instances: one failed connection (or timeout) takes an instance out for this long, after
#: which nginx tries it again. Short, so a restarted instance is back in the rotation at once.
MAX_FAILS, FAIL_TIMEOUT = 1, "3s"


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


def _servers(host: str, env: Mapping[str, str], service: Service, instances: int) -> str:
    if instances == 1:
        return f"        server {host}:{service.port(env)};\n"
    return "".join(
        f"        server {host}:{service.port(env, k)} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT};\n"
        for k in range(1, instances + 1)
    )


def _balancers(env: Mapping[str, str], services: Sequence[Service]) -> str:
    """With N instances: a loopback listener per service that balances the other services' calls to
    it (`<NAME>_SERVICE_URL` points there). No limits, no routes: the internal API as it is."""
    return "".join(
        "    server {\n"
        f"        listen 127.0.0.1:{s.balancer_port(env)};\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "        proxy_set_header Host $host;\n"
        "        proxy_connect_timeout 1s;\n"
        "        proxy_read_timeout 30s;\n"
        "        proxy_next_upstream error timeout;\n"
        f"        location / {{ proxy_pass http://svc_{s.name}; }}\n"
        "    }\n"
        for s in services
    )


def render(env: Mapping[str, str], services: Sequence[Service], instances: int = 1) -> str:
    host = env.get("SERVICE_HOST", "127.0.0.1")
    upstreams = "".join(
        f"    upstream svc_{s.name} {{\n" + _servers(host, env, s, instances) + "        keepalive 64;\n"
        # Below uvicorn's 5 s keep-alive, so nginx never reuses a connection the service is closing.
        "        keepalive_timeout 4s;\n"
        "    }\n"
        for s in services
    )
    if instances > 1:
        upstreams += _balancers(env, services)
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
        "health_targets": " ".join(
            f"{instance_name(s.name, k)}={host}:{s.port(env, k)}"
            for s in services
            for k in range(1, instances + 1)
        ),
        "upstreams": upstreams,
        "docs": docs,
        "routes": routes,
    }
    text = (repo_root() / "deploy/local/nginx/gateway.conf.template").read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def prepare(
    env: Mapping[str, str], services: Sequence[Service], instances: int = 1
) -> tuple[list[str], Path]:
    """Write and test the configuration; return nginx's foreground command and its error log."""
    nginx = nginx_binary()
    if nginx is None:
        raise DevstackError("nginx is not installed: run `make infra`")
    prefix = home(env)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf, log = prefix / "nginx.conf", prefix / "error.log"
    conf.write_text(render(env, services, instances))
    # -e: where nginx logs before it has read the configuration.
    command = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(log)]
    run([*command, "-t", "-q"], what=f"checking the gateway's configuration {conf}")
    return [*command, "-g", "daemon off;"], log
