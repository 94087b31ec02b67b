"""wrk (Debian's package) for the throughput ceilings: run it with lua/bench.lua and read what it
printed. wrk is closed-loop (each connection sends its next request when the previous answer is in),
which is what a ceiling needs; latencies under it are latencies at saturation, reported but not
the targets' p99 (loadgen.py measures those at a constant rate)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Answers, Latency

LUA = Path(__file__).parent / "lua" / "bench.lua"
MARKER = "BENCH_JSON "
THREAD_DONE = "BENCH_THREAD_DONE"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    latency: Latency  # milliseconds, as wrk measured them (closed loop)
    answers: Answers
    counted: bool  # answers by status (else only wrk's "non-2xx" count)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def rate_of(self, *statuses: int) -> float:
        """Answers with these statuses per second."""
        n = sum(self.answers.statuses.get(s, 0) for s in statuses)
        return n / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "rps": self.rps,
            "latency_ms": self.latency.as_dict(),
            "answers": self.answers.as_dict(),
            "counted": self.counted,
        }


def parse(output: str) -> WrkResult:
    """wrk's output with the BENCH_JSON line of lua/bench.lua; without that line (a script that
    failed), wrk's own text summary."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            return _from_json(json.loads(line[len(MARKER) :]))
    return parse_text(output)


def _from_json(data: dict[str, Any]) -> WrkResult:
    lat = data["latency_us"]
    ms = {k: float(lat[k]) / 1000 for k in ("p50", "p95", "p99", "max", "mean")}
    errors = data["errors"]
    answers = Answers()
    counted = bool(data.get("counted"))
    if counted:
        for status, n in data.get("statuses", {}).items():
            answers.add_status(int(status), int(n))
    else:
        status_errors = int(errors.get("status", 0))
        answers.add_status(200, max(0, int(data["requests"]) - status_errors))
        answers.add_transport("non-2xx", status_errors)
    for kind in ("connect", "read", "write", "timeout"):
        answers.add_transport(kind, int(errors.get(kind, 0)))
    requests = int(data["requests"])
    if data.get("tokens") and counted:
        # Only the token requests count (not a connection's harmless last request, if any).
        requests = answers.total
    return WrkResult(
        requests=requests,
        seconds=int(data["duration_us"]) / 1e6,
        latency=Latency(requests, ms["p50"], ms["p95"], ms["p99"], ms["max"], ms["mean"]),
        answers=answers,
        counted=counted,
        raw=data,
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_text(output: str) -> WrkResult:
    """wrk's plain summary (`--latency` adds the distribution lines)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    if done is None:
        raise ValueError(f"not wrk output:\n{output[-2000:]}")
    requests, seconds = int(done.group(1)), float(done.group(2)) * _DURATION[done.group(3)]
    dist = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.MULTILINE))
    average = re.search(r"Latency\s+([\d.]+(?:us|ms|s|m))\s+[\d.]+\w+\s+([\d.]+(?:us|ms|s|m))", output)
    mean, top = (_ms(average.group(1)), _ms(average.group(2))) if average else (float("nan"),) * 2
    p50 = _ms(dist["50"]) if "50" in dist else float("nan")
    p99 = _ms(dist["99"]) if "99" in dist else float("nan")
    answers = Answers()
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    bad = int(non2xx.group(1)) if non2xx else 0
    answers.add_status(200, requests - bad)
    answers.add_transport("non-2xx", bad)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        for kind, n in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            answers.add_transport(kind, int(n))
    # wrk's --latency lists 50/75/90/99 only: p95 is not known from the text.
    return WrkResult(requests, seconds, Latency(requests, p50, float("nan"), p99, top, mean), answers, False)


def ensure_installed() -> str:
    """wrk from Debian's packages, installed like devstack installs its servers when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    from devstack.system import apt_install

    apt_install(["wrk"])
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def run(
    base_url: str,
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
    method: str = "GET",
    path: str | None = None,
    paths_file: Path | None = None,
    token: str | None = None,
    tokens_file: Path | None = None,
    count: bool = True,
    timeout: str = "10s",
) -> WrkResult:
    """One wrk run. With `tokens_file` the run ends when every token has been used once (or after
    `seconds`, whichever comes first)."""
    env = {
        **os.environ,
        "BENCH_METHOD": method,
        "BENCH_THREADS": str(threads),
        "BENCH_COUNT": "1" if count else "0",
    }
    for name, value in (
        ("BENCH_PATH", path),
        ("BENCH_PATHS_FILE", paths_file),
        ("BENCH_TOKEN", token),
        ("BENCH_TOKENS_FILE", tokens_file),
    ):
        if value is not None:
            env[name] = str(value)
    command = [
        ensure_installed(),
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout}",
        "-s",
        str(LUA),
        base_url + (path or ""),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    finished = 0

    def read() -> None:
        nonlocal finished
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(THREAD_DONE):
                finished += 1
                if finished == threads:
                    proc.send_signal(signal.SIGINT)  # wrk prints its summary and exits

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"wrk did not finish: {' '.join(command)}") from None
    reader.join(timeout=5)
    output = "".join(lines)
    if proc.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{output[-2000:]}")
    try:
        return parse(output)
    except (ValueError, KeyError) as exc:
        raise RuntimeError(f"cannot read wrk's output ({exc}):\n{output[-2000:]}") from None


def warm_up(base_url: str, path: str, token: str | None = None, seconds: float = 1.0) -> None:
    """A short run whose numbers are dropped: connections open, caches and JITs warm."""
    run(base_url, seconds=seconds, connections=16, path=path, token=token, count=False)
    time.sleep(0.2)
