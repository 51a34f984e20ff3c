"""The compute to the answer: recorded training seconds a strategy spends until its best value
is within 0.5 pp (and 1 pp) of the grid's best; summarised over seeds.

A replayed trial is anything with `state`, `value` and `seconds` (the replay engine's `Step`).
Pruned trials cost their seconds and never count as found: only COMPLETE values do.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any, Protocol

ANSWER_PP = 0.5
CLOSE_PP = 1.0
# Values are float32 accuracies stored as float64: a hair's tolerance on the thresholds.
_TOLERANCE = 1e-9


class Replayed(Protocol):
    """One replayed trial, as `answer` reads it."""

    @property
    def state(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def seconds(self) -> float: ...


def compute_to(steps: Sequence[Replayed], target: float) -> float:
    """Seconds spent until the first COMPLETE value at or above `target` (`inf`: never)."""
    spent = 0.0
    for step in steps:
        spent += step.seconds
        if step.state == "COMPLETE" and step.value >= target - _TOLERANCE:
            return spent
    return math.inf


def anytime(steps: Sequence[Replayed]) -> list[tuple[float, float]]:
    """`(seconds spent, best COMPLETE value so far)` after each trial (`nan` before the first)."""
    spent, best, curve = 0.0, math.nan, []
    for step in steps:
        spent += step.seconds
        if step.state == "COMPLETE" and not step.value <= best:
            best = step.value
        curve.append((spent, best))
    return curve


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max (`None` where infinite: not reached), and how many seeds reached."""
    median = statistics.median(values) if values else math.inf

    def plain(value: float) -> float | None:
        return None if math.isinf(value) else round(value, 3)

    return {
        "median": plain(median),
        "min": plain(min(values, default=math.inf)),
        "max": plain(max(values, default=math.inf)),
        "reached": sum(not math.isinf(v) for v in values),
    }


def targets(grid_best: float) -> tuple[float, float]:
    """The values that count as the answer (0.5 pp below the grid's best) and as close (1 pp)."""
    return grid_best - ANSWER_PP / 100, grid_best - CLOSE_PP / 100


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float | None:
    """`numerator`'s median over `denominator`'s (`None` when either was not reached)."""
    top, bottom = numerator.get("median"), denominator.get("median")
    if top is None or bottom is None or bottom == 0:
        return None
    return float(top) / float(bottom)
