"""`comparison.html`: every trial of a study, val_accuracy against trainable parameters on a log
axis, the Pareto front drawn, in one self-contained file (inline SVG, no network, no plotly).

Made to be opened in MLflow's artifact viewer on the study's parent run, which renders HTML in
an iframe sandboxed with `allow-scripts` only: the page needs nothing from outside, and a point
cannot open another page from there (no `allow-popups`, no `allow-top-navigation`). Clicking a
point shows its trial, depth, learning rate and run (name, id, address) under the plot; the same
file opened from the report folder or a download also follows the run's link.

Optuna and pandas only: the MLflow addresses come in as plain strings.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from freezesweep.study.pareto_plot import ACCURACY, DEPTH, METHOD, PARAMS, layout

LR = "finetune.lr"
WIDTH, HEIGHT = 900, 480
LEFT, RIGHT, TOP, BOTTOM = 70, 40, 20, 50
# How each kind of trial is drawn: (legend, SVG shape class). Completed trials off the front
# are filled circles; the front's are ringed in red.
KINDS = {
    "front": "completed, on the Pareto front",
    "COMPLETE": "completed",
    "PRUNED": "pruned (last reported value)",
    "FAIL": "failed, or diverged below the axis (drawn on the bottom edge)",
}
STYLE = """
body{font:14px sans-serif;margin:12px;color:#222}
svg text{font-size:11px}
.front{fill:#1f77b4;stroke:#d62728;stroke-width:3}
.COMPLETE{fill:#1f77b4;stroke:none}
.PRUNED{fill:#fff;stroke:#7f7f7f;stroke-width:2}
.FAIL{fill:#000}
.point{cursor:pointer}
.point:hover{opacity:.6}
table{border-collapse:collapse;margin-top:10px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
#picked{margin:8px 0;padding:6px;background:#f4f4f4;min-height:1.2em;user-select:all}
"""
SCRIPT = """
const base = location.protocol === "blob:" ? new URL(location.href.slice(5)).origin : BASE;
for (const a of document.querySelectorAll("a[data-run]")) {
  if (base) a.href = base + "/" + a.dataset.run;
}
for (const p of document.querySelectorAll(".point")) {
  p.addEventListener("click", (event) => {
    event.preventDefault();
    const link = base ? base + "/" + p.dataset.run : "(run not recorded)";
    document.getElementById("picked").textContent = p.dataset.text + " | run " + link;
  });
}
"""


@dataclass(frozen=True)
class Point:
    """A trial as the page shows it: its kind (a `KINDS` key), position, facts and run route."""

    number: int
    kind: str
    size: float | None
    value: float | None
    facts: dict[str, str]
    route: str

    @property
    def text(self) -> str:
        """The facts in one line: `trial 3 state COMPLETE depth k=2 lr 0.0003 ...`."""
        return " ".join(f"{key} {value}" for key, value in self.facts.items() if value)


def comparison_html(
    table: pd.DataFrame, pareto: pd.DataFrame, title: str, runs: Mapping[int, str], base: str
) -> str:
    """The page: plot, legend, the clicked point's details, and every trial as a table row.

    Args:
        table: all trials (`report.trials_frame`, with run ids).
        pareto: the front (`report.pareto_table`).
        title: the page's heading.
        runs: each trial's run page as a UI route (`#/experiments/1/runs/<id>`), by number.
        base: the MLflow UI's address (`http://127.0.0.1:5000`); inside MLflow's viewer the
            page finds the server it came from instead.
    """
    front = {int(number) for number in pareto.get("number", [])}
    rows = [_point(row, front, runs) for _, row in table.iterrows()]
    script = SCRIPT.replace("BASE", json.dumps(base.rstrip("/")))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h3>{html.escape(title)}</h3>"
        f"{_svg(table, pareto, rows)}{_legend(rows)}"
        f"<div id='picked'>Click a point: its trial, depth, learning rate and run.</div>"
        f"{_table(rows)}<script>{script}</script></body></html>"
    )


def _point(row: pd.Series, front: set[int], runs: Mapping[int, str]) -> Point:
    number = int(row["number"])
    state = str(row["state"])
    kind = "front" if number in front else state if state in KINDS else "FAIL"
    depth = row.get(DEPTH)
    lr = row.get(LR)
    facts = {
        "trial": str(number),
        "state": state,
        "depth": "" if depth is None or pd.isna(depth) else f"k={int(depth)}",
        "lr": "" if lr is None or pd.isna(lr) else f"{float(lr):.3g}",
        "method": str(row.get(METHOD, "")),
        ACCURACY: "" if pd.isna(row[ACCURACY]) else f"{float(row[ACCURACY]):.4f}",
        PARAMS: "" if pd.isna(row[PARAMS]) else f"{int(row[PARAMS]):,}",
        "run": f"trial-{number:04d}" if number in runs else "",
    }
    size = None if pd.isna(row[PARAMS]) else float(row[PARAMS])
    value = None if pd.isna(row[ACCURACY]) else float(row[ACCURACY])
    return Point(number, kind, size, value, facts, runs.get(number, ""))


def _svg(table: pd.DataFrame, pareto: pd.DataFrame, rows: list[Point]) -> str:
    plan = layout(table, pareto)
    low, high = plan.y_limits
    sizes = [max(point.size, 1.0) for point in rows if point.size is not None]
    left = math.floor(math.log10(min(sizes))) if sizes else 0
    right = max(math.ceil(math.log10(max(sizes))) if sizes else 1, left + 1)

    def x(value: float) -> float:
        share = (math.log10(max(value, 1.0)) - left) / (right - left)
        return LEFT + share * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        share = (min(max(value, low), high) - low) / (high - low)
        return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)

    parts = [_axes(left, right, low, high, x, y)]
    if len(pareto):
        steps = _steps(pareto)
        line = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in steps)
        parts.append(f"<polyline id='front' points='{line}' fill='none' stroke='#d62728'/>")
    for point in rows:
        if point.size is not None:  # a trial that failed before it was sized has no place
            shown = low if point.value is None else point.value
            parts.append(_mark(point, x(point.size), y(shown)))
    for label in plan.labels:
        across, up = x(label.x) + 5, y(label.y) - 6 - 12 * label.row
        parts.append(f"<text x='{across:.1f}' y='{up:.1f}'>{html.escape(label.text)}</text>")
    body = "".join(parts)
    # Scales down to the viewer's width (MLflow's artifact pane is narrower than the page).
    size = f"viewBox='0 0 {WIDTH} {HEIGHT}' style='width:100%;max-width:{WIDTH}px;height:auto'"
    return f"<svg id='plot' {size} role='img'>{body}</svg>"


def _steps(pareto: pd.DataFrame) -> list[tuple[float, float]]:
    """The front as a staircase: right along an accuracy until the next point's size, then up."""
    points = list(zip(pareto[PARAMS].astype(float), pareto[ACCURACY].astype(float), strict=True))
    steps: list[tuple[float, float]] = []
    for (size, value), (after, _) in zip(points, [*points[1:], points[-1]], strict=True):
        steps += [(size, value), (after, value)]
    return steps


def _axes(
    left: int,
    right: int,
    low: float,
    high: float,
    x: Callable[[float], float],
    y: Callable[[float], float],
) -> str:
    bottom, top = HEIGHT - BOTTOM, TOP
    parts = [f"<rect x='{LEFT}' y='{top}' width='{WIDTH - LEFT - RIGHT}' "
             f"height='{bottom - top}' fill='none' stroke='#888'/>"]  # fmt: skip
    for power in range(left, right + 1):
        at = x(10.0**power)
        parts.append(f"<line x1='{at:.1f}' x2='{at:.1f}' y1='{top}' y2='{bottom}' stroke='#eee'/>")
        parts.append(f"<text class='xtick' x='{at:.1f}' y='{bottom + 15}' "
                     f"text-anchor='middle'>{10**power:,}</text>")  # fmt: skip
    for index in range(6):
        value = low + index * (high - low) / 5
        parts.append(f"<text x='{LEFT - 6}' y='{y(value) + 4:.1f}' "
                     f"text-anchor='end'>{value:.3f}</text>")  # fmt: skip
    parts.append(f"<text x='{(LEFT + WIDTH) / 2}' y='{HEIGHT - 8}' text-anchor='middle'>"
                 "trainable parameters (log scale)</text>")  # fmt: skip
    parts.append(f"<text transform='translate(14,{HEIGHT / 2}) rotate(-90)' "
                 "text-anchor='middle'>val_accuracy</text>")  # fmt: skip
    return "".join(parts)


def _mark(point: Point, across: float, up: float) -> str:
    text = html.escape(point.text)
    return (
        f"<a class='point' data-trial='{point.number}' data-kind='{point.kind}' "
        f"data-run='{html.escape(point.route)}' data-text='{text}'>"
        f"<circle class='{point.kind}' cx='{across:.1f}' cy='{up:.1f}' r='6'>"
        f"<title>{text}</title></circle></a>"
    )


def _legend(rows: list[Point]) -> str:
    counts = {kind: sum(point.kind == kind for point in rows) for kind in KINDS}
    items = "".join(
        f"<span><svg width='14' height='14'><circle class='{kind}' cx='7' cy='7' r='5'/></svg> "
        f"{html.escape(legend)}: {counts[kind]}</span> &nbsp; "
        for kind, legend in KINDS.items()
    )
    return f"<div id='legend'>{items} (k = unfrozen depth; red line: Pareto front)</div>"


def _table(rows: list[Point]) -> str:
    head = "".join(f"<th>{name}</th>" for name in rows[0].facts) if rows else ""
    body = []
    for point in rows:
        cells = [f"<td>{html.escape(value)}</td>" for key, value in point.facts.items()][:-1]
        run, route = html.escape(point.facts["run"]), html.escape(point.route)
        link = f"<a data-run='{route}' target='_blank'>{run}</a>" if run else ""
        cells.append(f"<td>{link}</td>")
        body.append(f"<tr data-kind='{point.kind}'>{''.join(cells)}</tr>")
    return f"<table id='trials'><tr>{head}</tr>{''.join(body)}</table>"
