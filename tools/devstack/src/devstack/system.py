"""Small helpers around the machine: commands, root, apt-get, ports and bounded waits."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


class DevstackError(RuntimeError):
    """A failure with a message meant for the person at the terminal (no traceback needed)."""


def is_root() -> bool:
    return os.geteuid() == 0


def as_root(cmd: Sequence[str]) -> list[str]:
    return list(cmd) if is_root() else ["sudo", *cmd]


def run(
    cmd: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    """Run a command to completion (bounded) and return its output; fail with that output."""
    try:
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DevstackError(f"{what}: no answer within {timeout:.0f}s ({' '.join(map(str, cmd))})") from exc
    if done.returncode != 0:
        output = _last_lines(done.stdout + done.stderr)
        raise DevstackError(f"{what} failed (exit {done.returncode}):\n{output}")
    return done.stdout


# ---------------------------------------------------------------------------------------------- apt

_POLICY = Path("/usr/sbin/policy-rc.d")


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """Debian packages start their own service on install (Redis on 6379 with persistence, nginx on
    80, a PostgreSQL cluster). We run our own instances, so deny those starts for the install's
    duration: invoke-rc.d does nothing when policy-rc.d exits 101. A policy already in place
    (container images ship one) is left alone."""
    if _POLICY.exists():
        yield
        return
    run(
        as_root(["sh", "-c", f"printf '#!/bin/sh\\nexit 101\\n' > {_POLICY} && chmod 755 {_POLICY}"]),
        what="writing policy-rc.d",
    )
    try:
        yield
    finally:
        run(as_root(["rm", "-f", str(_POLICY)]), what="removing policy-rc.d")


def apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages without starting their services. `apt-get update` runs only when
    the install fails for lack of (fresh) package lists."""
    if not packages:
        return
    print(f"devstack: installing {' '.join(packages)} (apt-get)", flush=True)
    install = as_root(
        [
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            *packages,
        ]
    )
    with _no_service_starts():
        try:
            run(install, what="apt-get install", timeout=1800)
        except DevstackError as exc:
            text = str(exc)
            if not any(
                s in text
                for s in (
                    "Unable to locate package",
                    "no installation candidate",
                    "apt-get update",
                    "404  Not Found",
                )
            ):
                raise
            print("devstack: package lists missing or stale, running apt-get update", flush=True)
            run(
                as_root(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update"]),
                what="apt-get update",
                timeout=900,
            )
            run(install, what="apt-get install", timeout=1800)


# -------------------------------------------------------------------------------------------- ports


def listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """Something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections: a suite's own connections to
    PostgreSQL, Redis and Kafka take ports from there while it starts, so listening ports are
    chosen below it, where nobody else's connection can take one first."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_QUIET_FLOOR = 20_000


def quiet_port() -> int:
    """A free listening port below the ephemeral range (`free_port` picks one inside it, which an
    outgoing connection may take before the listener binds it: "address already in use")."""
    for _ in range(500):
        port = random.randrange(_QUIET_FLOOR, _ephemeral_floor())
        if port_free(port):
            return port
    return free_port()


def quiet_run(offsets: Sequence[int]) -> int:
    """A base port below the ephemeral range such that base + each of `offsets` is free right now."""
    top = _ephemeral_floor() - max(offsets, default=0) - 10
    for _ in range(500):
        base = random.randrange(_QUIET_FLOOR, top)
        if all(port_free(base + o) for o in offsets):
            return base
    raise RuntimeError("no free run of ports found below the ephemeral range")


# -------------------------------------------------------------------------------------------- waits


def wait_until(
    probe: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `probe` until it is true; fail after `timeout` seconds, or at once when `alive` says the
    process we wait for has exited. The error carries the end of `log`."""
    deadline = time.monotonic() + timeout
    while not probe():
        if alive is not None and not alive():
            raise DevstackError(f"{what}: the process exited{log_tail(log)}")
        if time.monotonic() > deadline:
            raise DevstackError(f"{what}: not reached within {timeout:.0f}s{log_tail(log)}")
        time.sleep(interval)


def log_tail(log: Path | None, lines: int = 25) -> str:
    if log is None or not log.exists():
        return ""
    return f"\n--- last lines of {log}:\n" + _last_lines(log.read_text(errors="replace"), lines)


def _last_lines(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def pid_alive(pid_file: Path, must_contain: str = "") -> int | None:
    """The pid in `pid_file` when that process runs (and its command line contains `must_contain`:
    a pid file outlives its process, and pids are reused)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if must_contain in cmdline else None
