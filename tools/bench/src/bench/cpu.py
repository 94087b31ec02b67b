"""Where the CPU went while a line was measured: cores used by each of the suite's processes (from
/proc/<pid>/stat), by all PostgreSQL and all Java (Kafka) processes, by the load generator, and by
everything else on the machine (other people's work: what makes a run "disturbed")."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int, children: bool = False) -> int:
    """utime + stime (+ cutime + cstime: the children it has waited for, such as wrk)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])
        return own + (int(fields[13]) + int(fields[14]) if children else 0)
    except (OSError, IndexError, ValueError):
        return 0


def _by_command(name: str) -> dict[int, int]:
    """pid -> ticks of every process with this command name."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found[int(entry.name)] = _ticks(int(entry.name))
            except OSError:
                continue
    return found


def _machine() -> int:
    """Busy ticks of the whole machine (all cores): everything but idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4]


def snapshot(pids: Mapping[str, int]) -> dict[str, int | dict[int, int]]:
    shot: dict[str, int | dict[int, int]] = {name: _ticks(pid) for name, pid in pids.items()}
    shot["postgres (all)"] = _by_command("postgres")
    shot["kafka (java)"] = _by_command("java")
    shot["load generators"] = _ticks(os.getpid(), children=True)  # bench itself and wrk
    shot["machine"] = _machine()
    return shot


def _delta(before: int | dict[int, int], after: int | dict[int, int]) -> int:
    if isinstance(before, dict) and isinstance(after, dict):
        # Processes of a group come and go (PostgreSQL backends): count what each process that is
        # still there used since the first look, or since it started; one that exited is lost
        # (it ends up in "others").
        return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())
    return int(after) - int(before)  # type: ignore[arg-type]


def cores(before: Mapping[str, Any], after: Mapping[str, Any], seconds: float) -> dict[str, float]:
    """Cores used per name over `seconds`; "others" is what the machine used beyond all of them
    (other people's tests, short-lived processes, ...)."""
    used = {name: _delta(before[name], after.get(name, before[name])) / TICK / seconds for name in before}
    machine = used.pop("machine", 0.0)
    used["others"] = max(0.0, machine - sum(used.values()))
    return {k: round(v, 2) for k, v in used.items()}


@contextmanager
def measured(pids: Mapping[str, int]) -> Iterator[dict[str, float]]:
    """`with measured(pids) as usage:` fills `usage` with cores per name when the block ends."""
    usage: dict[str, float] = {}
    start, before = time.monotonic(), snapshot(pids)
    try:
        yield usage
    finally:
        usage.update(cores(before, snapshot(pids), max(1e-3, time.monotonic() - start)))


def brief(usage: Mapping[str, float], top: int = 5) -> str:
    shown = sorted(((v, k) for k, v in usage.items() if v >= 0.05), reverse=True)[:top]
    return ", ".join(f"{k} {v:.2f}" for v, k in shown)
