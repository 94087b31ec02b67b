"""py-spy's samples as text, so that a profile can be quoted (docs/performance.md): from the folded
stacks (`py-spy record --format raw`: one line per distinct stack, `frame;frame;... count`):

- where the CPU went by library: the share of samples whose innermost frame is in each top-level
  package (starlette, asyncpg, pydantic, the service's own code, ...);
- the hottest innermost frames (self time);
- the share of samples that pass through each of the suite's own functions (inclusive).

    python -m bench.flames bench/results/<stamp>/profiles/*.folded
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
OWN = ("commerce_kit", "_service", "commerce_contracts")


def parse(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        stacks.append((frames.split(";"), int(count)))
    return stacks


def library(frame: str) -> str:
    """`execute (asyncpg/connection.py:350)` -> `asyncpg`; `<frozen runpy>` -> `python`."""
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    if path.startswith("<"):
        return "python"
    first = path.split("/")[0]
    return first[:-3] if first.endswith(".py") else first


def summary(folded: Path, n: int = 12) -> str:
    stacks = parse(folded.read_text(errors="replace"))
    total = sum(count for _, count in stacks)
    if not total:
        return f"{folded.name}: no samples"
    by_library: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        by_library[library(leaf)] += count
        leaves[leaf] += count
        for frame in set(frames):
            if any(mark in library(frame) for mark in OWN):
                own[frame] += count

    def pct(count: int) -> str:
        return f"{100 * count / total:5.1f}%"

    out = [f"{folded.stem}: {total:,} samples (active threads only)", "  by library (innermost frame):"]
    out += [f"    {pct(c)}  {name}" for name, c in by_library.most_common(n)]
    out.append("  hottest innermost frames:")
    out += [f"    {pct(c)}  {frame}" for frame, c in leaves.most_common(n)]
    out.append("  the suite's own functions (inclusive):")
    out += [f"    {pct(c)}  {frame}" for frame, c in own.most_common(n)]
    return "\n".join(out)


def main(paths: list[str]) -> int:
    for p in paths:
        print(summary(Path(p)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
