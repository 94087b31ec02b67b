"""The one table `make bench` prints: per line its ceiling, the baseline it is compared with and
the ratio, its latencies at half its ceiling (open model), its errors by kind, and the targets,
each marked met or missed. Targets are reported, never asserted."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stats import Latency, format_errors

#: p99 target at half the maximum rate, for every line that has latencies (issue: "p99 under 100 ms").
P99_TARGET_MS = 100.0


@dataclass
class Line:
    key: str  # unique, e.g. "health.coupon"; other lines name it as their baseline
    name: str  # shown
    group: str  # baselines | coupon | payment | browse | database
    rate: float | None = None  # the ceiling (closed loop), in `unit`
    unit: str = "req/s"
    baseline: str | None = None  # key of the line it is compared with
    target: float | None = None  # the ratio it should reach
    latency: Latency | None = None  # at `latency_rate`, open model (milliseconds)
    latency_rate: float | None = None  # arrivals per second the latencies were measured at
    half_rate: bool = True  # False: the generator could not reach half the ceiling (see note)
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""
    skipped: str | None = None  # why there are no figures
    lag_p99: float | None = None  # the generator's own lag (ms) during the latency run
    load: float | None = None  # the machine's 1-minute load average when the line was measured

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "group": self.group,
            "rate": self.rate,
            "unit": self.unit,
            "baseline": self.baseline,
            "target": self.target,
            "latency_ms": self.latency.as_dict() if self.latency else None,
            "latency_rate": self.latency_rate,
            "half_rate": self.half_rate,
            "errors": self.errors,
            "note": self.note,
            "skipped": self.skipped,
            "lag_p99": self.lag_p99,
            "load": self.load,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Line:
        lat = d.get("latency_ms")
        return cls(
            key=d["key"],
            name=d["name"],
            group=d["group"],
            rate=d.get("rate"),
            unit=d.get("unit", "req/s"),
            baseline=d.get("baseline"),
            target=d.get("target"),
            latency=Latency(**lat) if lat else None,
            latency_rate=d.get("latency_rate"),
            half_rate=d.get("half_rate", True),
            errors=d.get("errors") or {},
            note=d.get("note", ""),
            skipped=d.get("skipped"),
            lag_p99=d.get("lag_p99"),
            load=d.get("load"),
        )


def ratio(line: Line, lines: Sequence[Line]) -> float | None:
    """The line's ceiling over its baseline's, when both were measured."""
    if line.baseline is None or line.rate is None:
        return None
    base = next((b for b in lines if b.key == line.baseline), None)
    if base is None or not base.rate or base.skipped:
        return None
    return line.rate / base.rate


def verdicts(line: Line, lines: Sequence[Line]) -> list[str]:
    """ "ratio met", "ratio MISSED", "p99 met", "p99 MISSED" (or "not measured"), for the targets
    that apply to this line."""
    out = []
    if line.target is not None:
        r = ratio(line, lines)
        if r is None:
            out.append("ratio not measured")
        else:
            out.append(f">={line.target:g}x {'met' if r >= line.target else 'MISSED'}")
    if line.latency is not None and line.latency.count and not math.isnan(line.latency.p99):
        ok = line.latency.p99 < P99_TARGET_MS
        out.append(f"p99<{P99_TARGET_MS:.0f}ms {'met' if ok else 'MISSED'}" + ("" if line.half_rate else "*"))
    return out


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


COLUMNS = (
    "line",
    "max",
    "unit",
    "vs (baseline)",
    "ratio",
    "@rate",
    "p50",
    "p95",
    "p99",
    "errors",
    "targets",
    "load",
)


def rows(lines: Sequence[Line]) -> list[tuple[str, ...]]:
    out = []
    for line in lines:
        if line.skipped:
            out.append((line.name, "-", "", "", "", "", "", "", "", "", f"skipped: {line.skipped}", ""))
            continue
        r = ratio(line, lines)
        lat = line.latency
        out.append(
            (
                line.name,
                _num(line.rate),
                line.unit,
                line.baseline or "",
                f"{r:.2f}x" if r is not None else "",
                (_num(line.latency_rate) + ("*" if not line.half_rate else "")) if line.latency_rate else "",
                _ms(lat.p50) if lat else "",
                _ms(lat.p95) if lat else "",
                _ms(lat.p99) if lat else "",
                format_errors(line.errors),
                ", ".join(verdicts(line, lines)),
                f"{line.load:.1f}" if line.load is not None else "",
            )
        )
    return out


def render(lines: Sequence[Line], notes: Iterable[str] = ()) -> str:
    """A plain-text table (also valid Markdown): what the terminal shows and the docs quote."""
    body = rows(lines)
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c) for i, c in enumerate(COLUMNS)]
    numeric = {1, 4, 5, 6, 7, 8, 11}

    def fmt(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    out = [
        fmt(COLUMNS),
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in numeric else "-" * (w + 2) for i, w in enumerate(widths))
        + "|",
    ]
    out += [fmt(r) for r in body]
    footer = [
        "max: the ceiling (wrk, or closed-loop flows), per second. vs: the line the ratio divides by",
        "(health.<service>: its /health/<service>/live through the gateway; pgbench.*: the database alone).",
        "@rate: the constant arrival rate the latencies (ms, from each request's due time) were measured",
        "at: half the ceiling; * = less (the generator's own ceiling). errors: answers neither 2xx nor",
        "expected (a 409 the scenario expects is no error) and transport failures, by kind. load: the",
        "1-minute load average as the line ended (2 cores: above 2, something else wanted the CPU too).",
    ]
    return "\n".join(out + [""] + footer + [f"- {n}" for n in notes])
