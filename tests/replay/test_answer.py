"""freezesweep.replay.answer: compute to the answer, anytime curves, spreads over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from freezesweep.replay import answer


@dataclass(frozen=True)
class Done:
    state: str
    value: float
    seconds: float


def test_compute_counts_every_trial_until_the_first_complete_value_at_the_target() -> None:
    steps = [Done("COMPLETE", 0.70, 5), Done("PRUNED", 0.95, 2), Done("COMPLETE", 0.796, 3)]
    answer_at, close_at = answer.targets(0.80)
    assert answer_at == pytest.approx(0.795) and close_at == pytest.approx(0.79)
    # A pruned trial's value is never the answer, but its seconds are spent.
    assert answer.compute_to(steps, answer_at) == 10
    assert answer.compute_to(steps, 0.9) == math.inf


def test_anytime_curve_holds_the_best_complete_value_so_far() -> None:
    steps = [Done("PRUNED", 0.9, 1), Done("COMPLETE", 0.6, 2), Done("COMPLETE", 0.5, 3)]
    curve = answer.anytime(steps)
    assert curve[0][0] == 1 and math.isnan(curve[0][1])
    assert curve[1:] == [(3, 0.6), (6, 0.6)]


def test_spread_reports_unreached_seeds_as_none() -> None:
    assert answer.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "reached": 3}
    half = answer.spread([1.0, math.inf, math.inf])
    assert half == {"median": None, "min": 1.0, "max": None, "reached": 1}
    assert answer.ratio({"median": 10.0}, {"median": 40.0}) == 0.25
    assert answer.ratio({"median": None}, {"median": 40.0}) is None
