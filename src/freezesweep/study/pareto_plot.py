"""`pareto.png`: accuracy against trainable parameters, readable at a glance.

`layout` decides everything that can be checked without pixels: the y range (fitted to the
front, so one diverged trial does not squash it), which points are clipped to its bottom edge,
how each point is drawn and named in the legend (by method for completed trials, by state for
pruned and failed ones), and where the depth labels go so that none collide. `plot_front`
only draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from freezesweep import objectives
from freezesweep.plotting import new_figure, save_figure

ACCURACY = objectives.ACCURACY
PARAMS = objectives.TRAINABLE_PARAMS
METHOD = objectives.METHOD
DEPTH = "finetune.top_k"
# One marker per fine-tuning method (others: a plain dot).
MARKERS = {"unfreeze": "o", "lora": "^", "bitfit": "s", "norm": "D"}
# A label's size in fractions of the axes: the width of one character, and the height.
CHAR_WIDTH = 0.0085
LABEL_HEIGHT = 0.05
# How far up one more row of labels goes, as a fraction of the axes' height.
LABEL_ROW = 0.045


@dataclass(frozen=True)
class Series:
    """Points drawn alike, under one legend entry."""

    legend: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    marker: str
    filled: bool


@dataclass(frozen=True)
class Label:
    """A text at a point, `row` rows above it (rows keep near labels apart)."""

    text: str
    x: float
    y: float
    row: int


@dataclass(frozen=True)
class Layout:
    """What `pareto.png` shows: y limits, point series, labels, and the clipped trials."""

    y_limits: tuple[float, float]
    series: tuple[Series, ...]
    labels: tuple[Label, ...]
    clipped: tuple[int, ...]


def y_limits(table: pd.DataFrame, pareto: pd.DataFrame) -> tuple[float, float]:
    """The front's accuracies (and anything better), with a margin; at least 0.04 high."""
    front = pareto[ACCURACY].dropna() if len(pareto) else table[ACCURACY].dropna()
    if not len(front):
        return 0.0, 1.0
    low, high = float(front.min()), float(table[ACCURACY].dropna().max())
    margin = max(0.02, 0.1 * (high - low))
    return max(0.0, low - margin), min(1.0, high) + margin


def layout(table: pd.DataFrame, pareto: pd.DataFrame) -> Layout:
    """Everything about the plot but the pixels.

    Args:
        table: all trials (`trials_frame`).
        pareto: the front (`pareto_table`).
    """
    placed = table[table[PARAMS].notna()].copy()
    low, high = y_limits(table, pareto)
    # A failed trial (no value) and one far below the front sit on the bottom edge.
    below = placed[ACCURACY].isna() | (placed[ACCURACY] < low)
    clipped = tuple(int(n) for n in placed[below & placed[ACCURACY].notna()]["number"])
    placed["shown"] = placed[ACCURACY].where(~below, low)
    series = [*_completed(placed[~below]), *_others(placed, below)]
    labels = _labels(placed, (low, high), below)
    return Layout((low, high), tuple(s for s in series if s.x), labels, clipped)


def _completed(rows: pd.DataFrame) -> list[Series]:
    done = rows[rows["state"] == "COMPLETE"]
    methods = done[METHOD] if METHOD in done else pd.Series(["unfreeze"] * len(done))
    return [
        _series(f"completed, method {method}", done[methods.to_numpy() == method], method, True)
        for method in sorted(set(methods))
    ]


def _others(placed: pd.DataFrame, below: pd.Series) -> list[Series]:
    pruned = placed[(placed["state"] == "PRUNED") & ~below]
    return [
        _series("pruned (last reported value)", pruned, "", False),
        Series(
            "failed, or diverged below the axis",
            tuple(placed[below][PARAMS]),
            tuple(placed[below]["shown"]),
            "v",
            True,
        ),
    ]


def _series(legend: str, rows: pd.DataFrame, method: str, filled: bool) -> Series:
    marker = MARKERS.get(method, "o")
    return Series(legend, tuple(rows[PARAMS]), tuple(rows["shown"]), marker, filled)


def _labels(
    placed: pd.DataFrame, limits: tuple[float, float], below: pd.Series
) -> tuple[Label, ...]:
    """One label per depth at its best point (a clipped point its own, with its value), each in
    the lowest row where it overlaps no label already placed."""
    spots: list[tuple[str, float, float]] = []
    texts = [_text(row, bool(low)) for (_, row), low in zip(placed.iterrows(), below, strict=True)]
    for text, rows in placed.assign(text=texts).groupby("text", sort=False):
        best = rows.sort_values("shown", ascending=False).iloc[0]
        spots.append((str(text), float(best[PARAMS]), float(best["shown"])))
    logs = [math.log10(max(x, 1.0)) for _, x, _ in spots]
    left, width = (min(logs), max(max(logs) - min(logs), 1.0)) if logs else (0.0, 1.0)
    height = limits[1] - limits[0]
    labels: list[Label] = []
    taken: list[tuple[float, float, float]] = []  # each placed label's x, y, width (axes fractions)
    for text, x, y in sorted(spots, key=lambda spot: (spot[1], spot[2])):
        across, up = (math.log10(max(x, 1.0)) - left) / width, (y - limits[0]) / height
        row = 0
        size = (len(text) + 1) * CHAR_WIDTH
        while any(overlap((across, up + row * LABEL_ROW, size), other) for other in taken):
            row += 1
        taken.append((across, up + row * LABEL_ROW, size))
        labels.append(Label(text, x, y, row))
    return tuple(labels)


def _text(row: pd.Series, clipped: bool) -> str:
    depth = row.get(DEPTH)
    text = f"k={int(depth)}" if depth is not None and pd.notna(depth) else f"#{row['number']}"
    if not clipped:
        return text
    value = row[ACCURACY]
    return f"{text} ({'failed' if pd.isna(value) else f'{value:.2f}'})"


def overlap(one: tuple[float, float, float], other: tuple[float, float, float]) -> bool:
    """Whether two labels (x, y of their lower left corner, width; axes fractions) overlap."""
    across = one[0] < other[0] + other[2] and other[0] < one[0] + one[2]
    return across and abs(one[1] - other[1]) < LABEL_HEIGHT


def plot_front(table: pd.DataFrame, pareto: pd.DataFrame, path: Path, title: str) -> None:
    """Draw `layout(table, pareto)` with the front as a red step line, to a PNG.

    Args:
        table: all trials.
        pareto: the front, from `pareto_table`.
        path: PNG file to write.
        title: plot title.
    """
    plan = layout(table, pareto)
    figure, axes = new_figure((9.5, 5))
    for index, series in enumerate(plan.series):
        color = f"C{index}" if series.filled else "grey"
        face = color if series.filled else "none"
        axes.scatter(
            series.x, series.y, marker=series.marker, color=color, facecolors=face,
            alpha=0.8, label=series.legend, clip_on=False,
        )  # fmt: skip
    if len(pareto):
        axes.step(
            pareto[PARAMS], pareto[ACCURACY], where="post", color="tab:red", label="Pareto front"
        )
        axes.scatter(
            pareto[PARAMS], pareto[ACCURACY], s=120, facecolors="none", edgecolors="tab:red"
        )
    for label in plan.labels:
        axes.annotate(
            label.text, (label.x, label.y), textcoords="offset points",
            xytext=(4, 4 + 11 * label.row), fontsize=8,
        )  # fmt: skip
    low, high = plan.y_limits
    rows = max((label.row for label in plan.labels), default=0) + 1
    axes.set_ylim(low, high + rows * LABEL_ROW * (high - low))  # room for the labels' rows
    axes.set_xscale("log")  # depths span orders of magnitude (head only vs full)
    axes.set_xlabel("trainable parameters (log scale)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:  # no trial yet: no legend (matplotlib would warn)
        axes.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
            title="trials (k = unfrozen depth)", title_fontsize=8,
        )  # fmt: skip
    save_figure(figure, path)
