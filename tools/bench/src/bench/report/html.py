"""The HTML report: one self-contained page (charts embedded) with the table, the invariants, the
machine, the notes and links to the raw results."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report.table import COLUMNS, Line, rows


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write(
    path: Path,
    *,
    title: str,
    lines: Sequence[Line],
    invariants: Sequence[tuple[str, bool, str]],
    machine: dict[str, Any],
    notes: Sequence[str],
    charts: Sequence[Path],
    raw_files: Sequence[Path],
) -> Path:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows(lines)
    )
    checks = "".join(
        f'<li class="{"ok" if held else "bad"}">{"held" if held else "BROKEN"}: '
        f"{html.escape(what)} {html.escape(detail)}</li>"
        for what, held, detail in invariants
    )
    esc = {k: html.escape(str(v)) for k, v in machine.items()}
    links = "".join(
        f'<li><a href="{html.escape(str(f.relative_to(path.parent)))}">{html.escape(f.name)}</a></li>'
        for f in raw_files
    )
    listed_notes = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    line_notes = "".join(
        f"<li><b>{html.escape(line.name)}</b>: {html.escape(line.note)}</li>" for line in lines if line.note
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1300px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
td:first-child, td:nth-child(3), td:nth-child(4), td:nth-child(10), td:last-child {{ text-align: left; }}
.ok {{ color: #2e7d32; }} .bad {{ color: #c62828; font-weight: bold; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 8px 0; }}
code {{ background: #f4f4f4; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Machine: {esc.get("cpu")}, {esc.get("nproc")} cores, {esc.get("memory")};
load average {esc.get("load_before")} before, {esc.get("load_after")} after ({esc.get("seconds")} s).
Command: <code>{esc.get("command")}</code></p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Invariants</h2><ul>{checks or "<li>none checked</li>"}</ul>
<h2>Charts</h2>{"".join(_img(c) for c in charts)}
<h2>Per line</h2><ul>{line_notes}</ul>
<h2>Notes</h2><ul>{listed_notes}</ul>
<h2>Raw results</h2><ul>{links}</ul>
</body></html>
"""
    path.write_text(page)
    return path
