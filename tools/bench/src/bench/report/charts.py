"""Charts (matplotlib, PNG) drawn from the same lines and raw results as the table: each line's
ratio against its target, each line's p99 at half its ceiling against 100 ms, and the coupon flood
settling over time. `summary` puts the three in one picture (`summary.png` of each run)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.report.table import P99_TARGET_MS, Line, ratio

MET, MISSED, NEUTRAL = "#2e7d32", "#c62828", "#607d8b"


def _ratios(ax: Any, lines: Sequence[Line]) -> None:
    shown = [(line, ratio(line, lines)) for line in lines if line.target is not None and not line.skipped]
    shown = [(line, r) for line, r in shown if r is not None]
    if not shown:
        ax.text(0.5, 0.5, "no ratio measured", ha="center", va="center")
        ax.set_axis_off()
        return
    names = [line.name for line, _ in shown][::-1]
    values = [r for _, r in shown][::-1]
    targets = [line.target for line, _ in shown][::-1]
    colors = [MET if v >= t else MISSED for v, t in zip(values, targets, strict=True)]
    ax.barh(names, values, color=colors)
    for y, t in enumerate(targets):
        ax.plot([t, t], [y - 0.4, y + 0.4], color="black", linewidth=2)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("ceiling / baseline's ceiling (black: target)")
    ax.set_title("Ratios against baselines")


def _p99(ax: Any, lines: Sequence[Line]) -> None:
    shown = [
        line
        for line in lines
        if line.latency is not None and line.latency.count and not math.isnan(line.latency.p99)
    ]
    if not shown:
        ax.text(0.5, 0.5, "no latency measured", ha="center", va="center")
        ax.set_axis_off()
        return
    names = [
        f"{line.name} @{line.latency_rate or 0:,.0f}/s" + ("*" if not line.half_rate else "")
        for line in shown
    ][::-1]
    p50 = [line.latency.p50 for line in shown][::-1]  # type: ignore[union-attr]
    p99 = [line.latency.p99 for line in shown][::-1]  # type: ignore[union-attr]
    ax.barh(names, p99, color=[MET if v < P99_TARGET_MS else MISSED for v in p99], label="p99")
    ax.barh(names, p50, color=NEUTRAL, label="p50")
    ax.axvline(P99_TARGET_MS, color="black", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("ms at half the ceiling, constant arrival rate (log; dashed: 100 ms)")
    ax.set_title("Latency at half the ceiling")
    ax.legend(loc="lower right", fontsize=8)


def _flood(ax: Any, raw: dict[str, Any]) -> None:
    flood = raw.get("coupon.flood") or {}
    runs = [
        (flood.get("settle"), "flood through the API", MET),
        (flood.get("backlog"), "backlog on the topic", NEUTRAL),
    ]
    runs = [(r, label, color) for r, label, color in runs if r and r.get("progress")]
    if not runs:
        ax.text(0.5, 0.5, "no coupon flood in this run", ha="center", va="center")
        ax.set_axis_off()
        return
    twin = ax.twinx()
    for settle, label, color in runs:
        t = [p[0] for p in settle["progress"]]
        ax.plot(t, [p[1] for p in settle["progress"]], color=color, label=f"final: {label}")
        twin.plot(
            t,
            [p[2] if p[2] is not None else float("nan") for p in settle["progress"]],
            color=color,
            linestyle=":",
            alpha=0.8,
        )
    flood_end = flood.get("wrk", {}).get("seconds")
    if flood_end:
        ax.axvline(flood_end, color="black", linestyle="--", linewidth=1, label="the flood's last answer")
    ax.set_xlabel("seconds since the requests began")
    ax.set_ylabel("reservations final")
    twin.set_ylabel("consumer lag from /metrics (dotted)")
    ax.set_title("Coupon: reservations final over time")
    ax.legend(loc="lower right", fontsize=8)


def ratios(lines: Sequence[Line], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    _ratios(ax, lines)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latencies(lines: Sequence[Line], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    _p99(ax, lines)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def flood(raw: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    _flood(ax, raw)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(lines: Sequence[Line], raw: dict[str, Any], title: str, path: Path) -> Path:
    fig = plt.figure(figsize=(13, 11))
    grid = fig.add_gridspec(3, 1, height_ratios=[1.0, 1.4, 0.9])
    _ratios(fig.add_subplot(grid[0]), lines)
    _p99(fig.add_subplot(grid[1]), lines)
    _flood(fig.add_subplot(grid[2]), raw)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
