"""Tests for P9's arithmetic (`freezesweep.bench._many_trials`): which span is whose, the ratio."""

from __future__ import annotations

import pytest

from freezesweep.bench._many_trials import TrialCost, slice_ratios, trial_costs, window


def test_a_trial_costs_the_span_since_the_previous_end_and_the_sampler_calls_in_it() -> None:
    record = {
        # Trials 7, 8, 9 of one invocation: the first is left out (its span starts the process).
        "spans": [(0.0, 1.0), (1.5, 2.0), (2.2, 3.5)],
        "numbers": [7, 8, 9],
        # Sampler calls: one before trial 8's end (asking trial 8), one asking trial 9.
        "sampler": [(1.2, 0.1), (2.1, 0.05), (0.5, 9.0)],
    }
    costs = trial_costs([record])
    assert sorted(costs) == [8, 9]
    assert costs[8] == TrialCost(pytest.approx(1.0), pytest.approx(0.1))  # type: ignore[arg-type]
    assert costs[9] == TrialCost(pytest.approx(1.5), pytest.approx(0.05))  # type: ignore[arg-type]
    # A window keeps the trials it holds, in number order.
    assert window(costs, (9, 20)) == [costs[9]]


def test_the_ratio_is_taken_slice_by_slice() -> None:
    early = [1.0] * 10
    late = [2.0] * 5 + [4.0] * 5
    # Five slices of two trials each: medians 2, 2, (2+4)/2 would mix; slices stay aligned.
    assert slice_ratios(early, late, slices=5) == (2.0, 2.0, 3.0, 4.0, 4.0)
    # Too few trials to slice: one ratio of the medians.
    assert slice_ratios([1.0], [3.0], slices=5) == (3.0,)
