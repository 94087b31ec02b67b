"""What every scenario shares: the plan (how long, how much), the run's context (the suite, where
results go, the lines measured so far), and the two measurements every line gets: a ceiling and
latencies at a constant rate of half that ceiling."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import cpu, flames, loadgen
from bench.report.table import Line
from bench.stack import Stack


@dataclass(frozen=True)
class Plan:
    quick: bool
    wrk_seconds: float  # each ceiling
    rate_seconds: float  # each constant-rate run
    flood_users: int
    flood_stock: int
    repeat_share: float
    buyers: int
    products: int
    pgbench_seconds: float
    baseline_services: tuple[str, ...] | None  # None: every service of the suite
    payment_concurrency: int = 32
    #: Above this rate (arrivals a second) the generator's own lag would show in the latencies; a
    #: line whose half ceiling is higher is measured at this rate and marked.
    generator_max_rate: float = 5_000
    connections: int = 64

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                wrk_seconds=3,
                rate_seconds=3,
                flood_users=10_000,
                flood_stock=1_000,
                repeat_share=0.10,
                buyers=300,
                products=200,
                pgbench_seconds=3,
                baseline_services=("coupon", "catalog", "ranking"),
            )
        return cls(
            quick=False,
            wrk_seconds=12,
            rate_seconds=12,
            flood_users=50_000,
            flood_stock=5_000,
            repeat_share=0.10,
            buyers=2_000,
            products=1_000,
            pgbench_seconds=15,
            baseline_services=None,
        )


@dataclass
class Context:
    stack: Stack
    plan: Plan
    out: Path
    profile: bool = False
    lines: list[Line] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    invariants: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, held, detail)
    state: dict[str, Any] = field(default_factory=dict)  # data loaded once, shared by scenarios
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> cores per process

    def add(self, line: Line) -> Line:
        if line.load is None and not line.skipped:
            line.load = os.getloadavg()[0]
        if line.key in self.cpu:
            line.note = "; ".join(
                filter(None, [line.note, f"CPU cores at the ceiling: {cpu.brief(self.cpu[line.key])}"])
            )
        self.lines.append(line)
        print(f"bench:   {line.name}: {_brief(line)}", flush=True)
        return line

    def check(self, what: str, held: bool, detail: str = "") -> None:
        self.invariants.append((what, held, detail))
        print(f"bench:   invariant {'held' if held else 'BROKEN'}: {what} {detail}", flush=True)

    def record(self, key: str, value: Any) -> None:
        self.raw[key] = value
        (self.out / "raw").mkdir(parents=True, exist_ok=True)
        (self.out / "raw" / f"{key}.json").write_text(json.dumps(value, indent=1, default=str))

    # --- measurements ----------------------------------------------------------------------------

    def constant_rate(
        self, requests: Sequence[bytes], ceiling: float, *, seconds: float | None = None
    ) -> tuple[loadgen.Samples, float, bool]:
        """Latencies at half the ceiling (open model), capped at the generator's own ceiling. Returns
        the samples, the rate used and whether it is the full half."""
        half = ceiling / 2
        rate = max(1.0, min(half, self.plan.generator_max_rate))

        async def go() -> loadgen.Samples:
            client = loadgen.Client(self.stack.gateway_url)

            async def flow(i: int, due: float, samples: loadgen.Samples) -> None:
                await loadgen.timed(client, requests[i % len(requests)], samples, "req", due)

            try:
                return await loadgen.open_model(flow, rate=rate, seconds=seconds or self.plan.rate_seconds)
            finally:
                client.close()

        return loadgen.run(go()), rate, rate >= half * 0.999

    # --- observation -----------------------------------------------------------------------------

    @contextmanager
    def profiled(self, label: str, services: Sequence[str], seconds: float) -> Iterator[None]:
        """The cores each process used while the block ran (always); with --profile also py-spy
        flame graphs of these services' processes and the top statements of pg_stat_statements."""
        usage_pids = self.stack.pids()
        with cpu.measured(usage_pids) as usage:
            if self.profile:
                with self._profiling(label, services, seconds):
                    yield
            else:
                yield
        self.cpu[label] = usage
        print(f"bench:     CPU cores while measuring {label}: {cpu.brief(usage)}", flush=True)

    @contextmanager
    def _profiling(self, label: str, services: Sequence[str], seconds: float) -> Iterator[None]:
        spies = []
        folder = self.out / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for name in services:
            pid = self.stack.pid_of(name)
            if pid is None:
                continue
            # The flame graph for people, the folded stacks for flames.py's text summary.
            for fmt, suffix in (("flamegraph", "svg"), ("raw", "folded")):
                spies.append(
                    subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(max(1, round(seconds))),
                            "--rate",
                            "199",
                            "--nonblocking",
                            "--format",
                            fmt,
                            "--output",
                            str(folder / f"{label}-{name}.{suffix}"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        statements = asyncio.run(_pg_reset(self.stack.database_url))
        try:
            yield
        finally:
            for proc in spies:
                try:
                    proc.wait(timeout=seconds + 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for folded in sorted(folder.glob(f"{label}-*.folded")):
                folded.with_suffix(".txt").write_text(flames.summary(folded) + "\n")
            if statements:
                top = asyncio.run(_pg_top(self.stack.database_url))
                self.record(f"pg_stat_statements-{label}", top)


def _brief(line: Line) -> str:
    if line.skipped:
        return f"skipped ({line.skipped})"
    parts = []
    if line.rate is not None:
        parts.append(f"{line.rate:,.0f} {line.unit}")
    if line.latency is not None and line.latency.count:
        parts.append(f"p99 {line.latency.p99:.1f} ms at {line.latency_rate or 0:,.0f}/s")
    if line.lag_p99 is not None:
        parts.append(f"generator lag p99 {line.lag_p99:.1f} ms")
    if line.errors:
        parts.append(f"errors {line.errors}")
    if line.load is not None:
        parts.append(f"load {line.load:.1f}")
    return ", ".join(parts)


def merge_errors(*errors: Mapping[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for e in errors:
        total.update(e)
    return dict(sorted(total.items()))


async def _pg_reset(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        return True
    except asyncpg.PostgresError:  # not in shared_preload_libraries on this server
        return False
    finally:
        await conn.close()


async def _pg_top(url: str, limit: int = 25) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT s.calls, round(s.total_exec_time::numeric, 1) AS total_ms,
                   round(s.mean_exec_time::numeric, 3) AS mean_ms, s.rows, left(s.query, 300) AS query
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database()
            ORDER BY s.total_exec_time DESC LIMIT $1
            """,
            limit,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()
