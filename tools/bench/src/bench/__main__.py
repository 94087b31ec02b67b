"""python -m bench [--quick] [--url URL] [--scenario NAME ...] [--profile] [--keep] [--docs-png]

Starts the suite (devstack's Suite on free ports, a database, Redis db and topic prefix of its own;
the infrastructure where it answers, else started like `make infra`), or uses the one at --url;
loads the data; runs the scenarios; prints one table and writes bench/results/<timestamp>/ (raw
JSON, table.txt, report.html, charts). Targets are reported, never asserted: the exit code is 0
unless the harness itself failed or an invariant broke."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import pgbench, stack, wrk
from bench.report import charts, html
from bench.report.table import Line, render
from bench.scenarios import baselines, browse, coupon, load, payment
from bench.scenarios.common import Context, Plan

# In this order: browsing comes last so that popular products has the payments' sales to rank.
SCENARIOS = {"baselines": baselines, "coupon": coupon, "payment": payment, "browse": browse}
NEEDS_DATA = {"browse", "payment"}
BASELINE_OF = {"browse": ("health.catalog", "health.ranking"), "coupon": ("health.coupon",)}


def machine(command: str) -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    memory_kb = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpu": first("/proc/cpuinfo", "model name"),
        "nproc": os.cpu_count(),
        "memory": f"{int(memory_kb) / 1024 / 1024:.1f} GiB" if memory_kb.isdigit() else "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "command": command,
    }


def repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "tools/bench").is_dir() and (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs, a smaller flood (under 3 minutes)"
    )
    parser.add_argument(
        "--url", help="use the suite running at this gateway URL (make run: http://127.0.0.1:8080)"
    )
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="only these (repeatable)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy flame graphs and pg_stat_statements per line"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database and topics afterwards")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results/<timestamp>)")
    parser.add_argument(
        "--docs-png", action="store_true", help="also write the summary chart to docs/img/bench-<date>.png"
    )
    args = parser.parse_args(argv)

    began = time.monotonic()
    root = repo_root()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or root / "bench" / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    facts = machine(command)
    wanted = args.scenario or list(SCENARIOS)
    # A ratio needs its baseline in the same run.
    if "baselines" not in wanted and any(s in BASELINE_OF for s in wanted):
        wanted = ["baselines", *wanted]
    plan = Plan.make(args.quick)
    if "baselines" in wanted and plan.baseline_services is not None and args.scenario:
        keep = {b.split(".")[1] for s in wanted for b in BASELINE_OF.get(s, ())}
        plan = Plan(**{**plan.__dict__, "baseline_services": tuple(sorted(keep))})
    if args.profile:  # enough samples for a flame graph
        plan = Plan(**{**plan.__dict__, "wrk_seconds": max(plan.wrk_seconds, 8.0)})
    wrk.ensure_installed()
    pgbench.binary()
    print(f"bench: {command}\nbench: results in {out}", flush=True)

    broken = False
    failed = False
    if args.url:
        running = stack.attached(args.url)
        ctx = _run(running, plan, out, args, wanted)
    else:
        print("bench: starting the suite (devstack) on free ports", flush=True)
        with stack.started(keep=args.keep, logs=out / "logs") as running:
            print(f"bench: suite up at {running.gateway_url} ({time.monotonic() - began:.0f} s)", flush=True)
            ctx = _run(running, plan, out, args, wanted)
    failed = any(line.skipped and line.skipped.startswith("failed") for line in ctx.lines)
    broken = any(not held for _, held, _ in ctx.invariants)
    facts["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    facts["seconds"] = round(time.monotonic() - began)
    _report(ctx, facts, out, root, args.docs_png)
    print(f"bench: done in {facts['seconds']} s; report {out / 'report.html'}", flush=True)
    return 1 if failed or broken else 0


def _run(running: stack.Stack, plan: Plan, out: Path, args: argparse.Namespace, wanted: list[str]) -> Context:
    ctx = Context(running, plan, out, profile=args.profile)
    if args.url:
        ctx.notes.append(f"against the suite at {args.url} (not started by the bench)")
    if any(s in NEEDS_DATA for s in wanted):
        load.run(ctx)
    for name in SCENARIOS:
        if name not in wanted:
            continue
        print(f"bench: scenario {name}", flush=True)
        started = time.monotonic()
        try:
            SCENARIOS[name].run(ctx)
        except Exception as exc:  # one scenario failing still gives the others' figures
            traceback.print_exc()
            (out / f"{name}-error.txt").write_text(traceback.format_exc())
            ctx.add(Line(f"{name}.failed", f"{name} scenario", name, skipped=f"failed: {exc!r}"[:160]))
        print(f"bench: scenario {name} took {time.monotonic() - started:.0f} s", flush=True)
    return ctx


def _report(ctx: Context, facts: dict[str, Any], out: Path, root: Path, docs_png: bool) -> None:
    notes = [*ctx.notes]
    if ctx.stack.suite is not None and not ctx.stack.has("ranking"):
        notes.append("the ranking service is not in devstack's SUITE: popular products skipped")
    table = render(ctx.lines, notes)
    print("\n" + table + "\n", flush=True)
    if ctx.invariants:
        print("invariants:")
        for what, held, detail in ctx.invariants:
            print(f"  {'held  ' if held else 'BROKEN'} {what} {detail}")
    (out / "table.txt").write_text(table + "\n")
    results = {
        "machine": facts,
        "plan": ctx.plan.__dict__,
        "lines": [line.as_dict() for line in ctx.lines],
        "invariants": [{"what": w, "held": h, "detail": d} for w, h, d in ctx.invariants],
        "notes": notes,
        "cpu_cores": ctx.cpu,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    title = (
        f"make bench{' (quick)' if ctx.plan.quick else ''}, {datetime.now():%Y-%m-%d %H:%M}: "
        f"{facts['nproc']} x {facts['cpu']}, load {facts['load_before']} -> {facts['load_after']}"
    )
    drawn = [
        charts.summary(ctx.lines, ctx.raw, title, out / "summary.png"),
        charts.ratios(ctx.lines, out / "ratios.png"),
        charts.latencies(ctx.lines, out / "latencies.png"),
        charts.flood(ctx.raw, out / "coupon-flood.png"),
    ]
    if docs_png:
        target = root / "docs" / "img" / f"bench-{datetime.now():%Y-%m-%d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(drawn[0].read_bytes())
        print(f"bench: summary chart copied to {target}", flush=True)
    raw_files = [*sorted((out / "raw").glob("*.json")), out / "results.json", out / "table.txt"]
    html.write(
        out / "report.html",
        title=title,
        lines=ctx.lines,
        invariants=ctx.invariants,
        machine=facts,
        notes=notes,
        charts=drawn[1:],
        raw_files=raw_files,
    )


if __name__ == "__main__":
    sys.exit(main())
