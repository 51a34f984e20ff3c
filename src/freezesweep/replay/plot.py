"""The anytime curves of a replay: best value so far against recorded compute, per strategy."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from freezesweep.plotting import new_figure, save_figure


def median_curve(
    curves: Sequence[Sequence[tuple[float, float]]], points: int = 200
) -> tuple[list[float], list[float]]:
    """The median over seeds of the best-so-far, on a common grid of seconds.

    A seed that stopped (it had the answer) keeps its last best; before a seed's first COMPLETE
    trial its best is unknown and it is left out of that point's median.
    """
    end = max((curve[-1][0] for curve in curves if curve), default=0.0)
    grid = [end * (index + 1) / points for index in range(points)]
    medians: list[float] = []
    for second in grid:
        bests = [_best_at(curve, second) for curve in curves]
        known = [best for best in bests if not math.isnan(best)]
        medians.append(statistics.median(known) if known else math.nan)
    return grid, medians


def _best_at(curve: Sequence[tuple[float, float]], second: float) -> float:
    best = math.nan
    for spent, value in curve:
        if spent > second:
            break
        best = value
    return best


def plot_anytime(
    curves: Mapping[str, Sequence[Sequence[tuple[float, float]]]],
    grid_best: float,
    path: Path,
    title: str,
) -> Path:
    """Draw each strategy's median anytime curve and the 0.5 pp band under the grid's best."""
    figure, axes = new_figure((8, 4.5))
    for name, runs in curves.items():
        seconds, best = median_curve(runs)
        axes.plot(seconds, best, label=f"{name} (median of {len(runs)} seeds)")
    axes.axhline(grid_best, color="black", linewidth=0.8, label="grid's best")
    axes.axhspan(grid_best - 0.005, grid_best, color="tab:green", alpha=0.15, label="within 0.5 pp")
    axes.set_xscale("log")
    axes.set_xlabel("recorded training seconds spent (log scale)")
    axes.set_ylabel("best val_accuracy so far")
    axes.set_ylim(max(0.0, grid_best - 0.25), min(1.0, grid_best + 0.03))
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)
