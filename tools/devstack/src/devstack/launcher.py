"""Runs the suite on this machine: `Suite` (the services and the gateway as child processes, used
by the end-to-end tests) and `run()` (`make run`: infrastructure, demo data, a guide, and the
children's output until Ctrl-C)."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from devstack import gateway, infra
from devstack.config import environment, truthy
from devstack.services import Service, Worker, instance_name, select
from devstack.system import DevstackError, free_port, port_free, wait_until

STOP_TIMEOUT = 15.0  # seconds a child gets to stop after SIGTERM (uvicorn's graceful timeout is 10)


class Child:
    """A child process whose output is read line by line: kept (the last lines, for errors) and
    passed to `echo` (the launcher prints it, prefixed with the name)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        echo: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.lines: collections.deque[str] = collections.deque(maxlen=60)
        # Errors are kept apart: a burst of warnings must not push the one traceback that matters
        # out of a failed test's report.
        self.errors: collections.deque[str] = collections.deque(maxlen=20)
        self._echo = echo
        # Its own process group: Ctrl-C at the terminal reaches only the launcher, which then stops
        # the children in order instead of racing them.
        self.proc = subprocess.Popen(
            list(command),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            process_group=0,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if '"level":"ERROR"' in line or '"level":"CRITICAL"' in line or line.startswith("Traceback"):
                self.errors.append(line)
            if self._echo is not None:
                self._echo(self.name, line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        """Its last lines, after the errors it logged (if any)."""
        self._reader.join(timeout=1)  # the last lines of a process that just exited
        last = "\n".join(self.lines)
        if not self.errors:
            return last
        errors = "\n".join(self.errors)
        return f"(errors logged, the last {len(self.errors)})\n{errors}\n(last lines)\n{last}"

    def terminate(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"devstack: {self.name} did not stop within {STOP_TIMEOUT:.0f}s: killing it", flush=True)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=2)


class Suite:
    """The services (all of services.SUITE unless `services` names some) and the gateway, on the
    ports and servers `env` configures (GATEWAY_PORT, SERVICE_PORT_BASE, DATABASE_URL, ...), so a
    second copy can run beside the first. The infrastructure must be up already.

    `instances=N` runs every service N times on the same PostgreSQL, Redis and Kafka: instance k on
    SERVICE_PORT_BASE_<k> (default SERVICE_PORT_BASE + 100 * (k - 1)), the gateway balancing over
    all of them, and the services calling one another through the gateway's internal balancers
    (`<NAME>_SERVICE_URL`, see services.py). One instance (the default) is the plain layout of API.md.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        services: Sequence[str] | None = None,
        *,
        instances: int = 1,
        demo_data: bool = False,
        echo: Callable[[str, str], None] | None = None,
    ) -> None:
        if instances < 1:
            raise DevstackError(f"instances must be at least 1, not {instances}")
        self.env = environment(env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            self.services = select(services)
        except ValueError as exc:
            raise DevstackError(str(exc)) from None
        self.instances = instances
        self.demo_data = demo_data
        self.echo = echo
        self.children: list[Child] = []
        self._paused: set[Child] = set()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def service_url(self, name: str, instance: int = 1) -> str:
        """Where one instance of a service's API (or of one of its workers) listens."""
        return f"http://{self.env['SERVICE_HOST']}:{self._port(name, instance)}"

    def _process(self, name: str) -> tuple[Service, Worker | None]:
        """The service of a process name: a service's API (`coupon`) or a worker (`coupon-issuer`)."""
        for s in self.services:
            if s.name == name:
                return s, None
            for w in s.workers:
                if w.name == name:
                    return s, w
        raise DevstackError(f"no process named {name}")

    def _port(self, name: str, instance: int = 1) -> int:
        service, worker = self._process(name)
        port = service.port(self.env, instance)
        return port if worker is None else port - service.offset + worker.offset

    def processes(self) -> list[str]:
        """The name of every process of one instance of the suite: each service's API and workers."""
        return [n for s in self.services for n in (s.name, *(w.name for w in s.workers))]

    def ports(self) -> dict[str, int]:
        """Every port this suite listens on, by what listens there."""
        ports = {"gateway": int(self.env["GATEWAY_PORT"])}
        for k in range(1, self.instances + 1):
            ports |= {instance_name(n, k): self._port(n, k) for n in self.processes()}
        if self.instances > 1:
            ports |= {f"{s.name} balancer": s.balancer_port(self.env) for s in self.services}
        return ports

    def start(self) -> None:
        """Migrate, start every service (every instance) and wait until each is ready, then the
        gateway and its /health. On failure, whatever was started is stopped again."""
        busy = [f"{name} :{port}" for name, port in self.ports().items() if not port_free(port)]
        if len(set(self.ports().values())) < len(self.ports()):
            raise DevstackError(f"port layout overlaps itself: {self.ports()} (see devstack/services.py)")
        if busy:
            raise DevstackError(
                f"ports in use: {', '.join(busy)}"
                " (set GATEWAY_PORT / SERVICE_PORT_BASE / SERVICE_PORT_BASE_<k> / SERVICE_LB_PORT_BASE)"
            )
        if self.instances > 1:
            # Every instance finds the others through the gateway's balancers (unless told otherwise).
            host = self.env["SERVICE_HOST"]
            for s in self.services:
                self.env.setdefault(
                    f"{s.name.upper()}_SERVICE_URL", f"http://{host}:{s.balancer_port(self.env)}"
                )
        try:
            self._data_platform()
            for s in self.services:
                self.service_command(s, "migrate")
                if self.demo_data:
                    self.service_command(s, "demo-data")
            started = [
                (n, k, self._spawn(n, k)) for k in range(1, self.instances + 1) for n in self.processes()
            ]
            for name, k, child in started:
                self._wait_http(child, f"{self.service_url(name, k)}/health/ready", timeout=90)
            command, log = gateway.prepare(self.env, self.services, self.instances)
            nginx = Child("gateway", command, self.env, self.echo)
            self.children.append(nginx)
            self._wait_http(nginx, f"{self.gateway_url}/health", timeout=30, log=log)
        except BaseException:
            self.stop()
            raise

    def _data_platform(self) -> None:
        """The payment service sends every payment to DATA_PLATFORM_URL. Unless one is configured, a
        local stand-in receives them and logs what it gets (and answers tests at /_deliveries)."""
        if "DATA_PLATFORM_URL" in self.env or not any(s.name == "payment" for s in self.services):
            return
        # Never one of the suite's own ports: they are not bound yet, so a free port may be one
        # (a service would then fail to bind, and the stand-in answer its health checks).
        taken = set(self.ports().values())
        port = 8199 if port_free(8199) and 8199 not in taken else free_port()
        while port in taken:
            port = free_port()
        child = Child(
            "platform",
            [sys.executable, "-m", "commerce_kit.testing.dataplatform", "--port", str(port)],
            self.env,
            self.echo,
        )
        self.children.append(child)
        self.env["DATA_PLATFORM_URL"] = f"http://127.0.0.1:{port}/payments"
        self._wait_http(child, f"http://127.0.0.1:{port}/_deliveries", timeout=30)

    def _spawn(self, name: str, instance: int = 1) -> Child:
        service, worker = self._process(name)
        port = self._port(name, instance)
        command = [
            sys.executable,
            "-m",
            service.package,
            "serve",
            "--port",
            str(port),
            "--host",
            self.env["SERVICE_HOST"],
        ]
        # An instance's SERVICE_PORT_BASE is its own (it listens on base + offset, as API.md says).
        base = service.port(self.env, instance) - service.offset
        own = dict(service.env if worker is None else worker.env)
        env = {**self.env, **own} if instance == 1 else {**self.env, **own, "SERVICE_PORT_BASE": str(base)}
        child = Child(instance_name(name, instance), command, env, self.echo)
        self.children.append(child)
        return child

    def child(self, name: str, instance: int = 1) -> Child:
        """The running process of one instance of a service."""
        wanted = instance_name(name, instance)
        found = next((c for c in self.children if c.name == wanted and c.alive()), None)
        if found is None:
            raise DevstackError(f"{wanted} is not running")
        return found

    def kill(self, name: str, sig: int = signal.SIGKILL, *, instance: int = 1) -> None:
        """Fault injection (tests): signal one instance of a service (SIGKILL: no goodbye), wait
        for it to exit and forget it; `restart` starts it again."""
        child = self.child(name, instance)
        child.proc.send_signal(sig)
        if child in self._paused:  # a stopped process acts on its signals only once it runs again
            child.proc.send_signal(signal.SIGCONT)
            self._paused.discard(child)
        child.proc.wait(timeout=30)
        self.children.remove(child)

    def restart(self, name: str, *, instance: int = 1) -> None:
        """Start one instance of a service (or worker) again (after `kill`) and wait until it is ready."""
        child = self._spawn(name, instance)
        self._wait_http(child, f"{self.service_url(name, instance)}/health/ready", timeout=90)

    def pause(self, name: str, *, instance: int = 1) -> None:
        """Fault injection (tests): SIGSTOP one instance. It keeps its sockets: connections are
        accepted by the kernel and then nothing answers, the way a hung dependency behaves."""
        child = self.child(name, instance)
        child.proc.send_signal(signal.SIGSTOP)
        self._paused.add(child)

    def resume(self, name: str, *, instance: int = 1) -> None:
        """SIGCONT an instance `pause` stopped."""
        child = self.child(name, instance)
        child.proc.send_signal(signal.SIGCONT)
        self._paused.discard(child)

    @property
    def data_platform_url(self) -> str | None:
        return self.env.get("DATA_PLATFORM_URL")

    def service_command(self, service: Service, command: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", service.package, command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        for line in (done.stdout + done.stderr).splitlines():
            if self.echo is not None:
                self.echo(service.name, line)
        if done.returncode != 0:
            raise DevstackError(
                f"{service.name} {command} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )

    @staticmethod
    def _wait_http(child: Child, url: str, *, timeout: float, log: Path | None = None) -> None:
        def answers() -> bool:
            try:
                return httpx.get(url, timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(
                answers, what=f"{child.name}: 200 from {url}", timeout=timeout, alive=child.alive, log=log
            )
        except DevstackError as exc:
            raise DevstackError(f"{exc}\n--- {child.name}'s output:\n{child.tail()}") from None

    def dead(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((c for c in self.children if not c.alive()), None)

    def stop(self) -> None:
        """The gateway first (no new requests), then the services: SIGTERM, then SIGKILL after
        STOP_TIMEOUT seconds."""
        for child in self._paused:  # SIGTERM would wait for a SIGCONT
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGCONT)
        self._paused.clear()
        gateway_first = sorted(self.children, key=lambda c: c.name != "gateway")
        for group in (gateway_first[:1], gateway_first[1:]):
            for child in group:
                child.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in group:
                child.wait_or_kill(deadline)
        self.children.clear()


def print_line(name: str, line: str) -> None:
    print(f"{name:>8} | {line}", flush=True)


def guide(suite: Suite) -> str:
    url = suite.gateway_url
    docs = "  ".join(f"{url}/docs/{s.name}" for s in suite.services)
    listing = "  ".join(
        f"{instance_name(n, k)} {suite.service_url(n, k)}"
        for k in range(1, suite.instances + 1)
        for n in suite.processes()
    )
    return f"""
================================================================================================
 The suite is up.   Gateway {url}   (GET /health, GET /gateway/ping)
 API docs   {docs}
 Services   {listing}

 Tokens (JWT_SECRET of this run):   make token USER=2        make token ADMIN=1
 Try it (demo users: 1 Admin, 2 Alice, 3 Bob, 4 Carol):
   ADMIN=$(make -s token ADMIN=1); ALICE=$(make -s token USER=2)
   curl -s -X POST {url}/api/v1/admin/users -H "Authorization: Bearer $ADMIN" \\
        -H 'Content-Type: application/json' -d '{{"name":"Dave"}}'
   curl -s -X POST {url}/api/v1/users/2/balance/charge -H "Authorization: Bearer $ALICE" \\
        -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' -d '{{"amount":10000}}'
   curl -s {url}/api/v1/users/2/balance -H "Authorization: Bearer $ALICE"
   curl -s {url}/api/v1/users/2/transactions -H "Authorization: Bearer $ALICE"

 Ctrl-C stops everything this command started.
================================================================================================
""".strip("\n")


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop


def run(overrides: Mapping[str, str] | None = None, instances: int = 1) -> int:
    """`make run`: infrastructure, migrations, demo data (DEMO_DATA, default true), services
    (`instances` of each: `make run INSTANCES=2`), gateway; then the children's output until
    Ctrl-C / SIGTERM or until a child dies."""
    env = environment({"DEMO_DATA": os.environ.get("DEMO_DATA", "true"), **(overrides or {})})
    # Explicitly: a shell that starts us in the background would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    suite: Suite | None = None
    code = 0
    try:
        infra.ensure_infra(env)
        suite = Suite(env, instances=instances, demo_data=truthy(env["DEMO_DATA"]), echo=print_line)
        suite.start()
        print(guide(suite), flush=True)
        while (dead := suite.dead()) is None:
            time.sleep(0.5)  # supervision: signals interrupt the sleep
        print(f"devstack: {dead.name} exited (code {dead.proc.returncode}): stopping everything", flush=True)
        code = 1
    except (KeyboardInterrupt, _Stop):
        print("\ndevstack: stopping", flush=True)
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # Stopping is bounded; a second Ctrl-C must not leave half of it running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if suite is not None:
            suite.stop()
        infra.stop_infra()
    print("devstack: stopped", flush=True)
    return code


__all__ = ["Child", "Suite", "free_port", "run"]
