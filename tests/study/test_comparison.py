"""`comparison.html`: every trial, on a log axis, the front drawn, states told apart, run links."""

from __future__ import annotations

import itertools
import re

from freezesweep.study.comparison import comparison_html
from freezesweep.study.report import pareto_table, trials_frame
from tests.helpers.summary_study import summary_study


def _page() -> str:
    table = trials_frame(summary_study())
    routes = {number: f"#/experiments/1/runs/run-{number}" for number in range(6)}
    return comparison_html(table, pareto_table(table), "toy", routes, "http://127.0.0.1:5000")


def test_every_trial_is_a_point_of_its_kind() -> None:
    kinds = re.findall(r"class='point' data-trial='(\d+)' data-kind='(\w+)'", _page())
    # All six trials (not a first page of them); trials 0 and 1 are the front (0.70 at 325,
    # 0.83 at 74,053), the pruned and failed trials are marked as such.
    assert kinds == [
        ("0", "front"),
        ("1", "front"),
        ("2", "COMPLETE"),
        ("3", "COMPLETE"),
        ("4", "PRUNED"),
        ("5", "FAIL"),
    ]


def test_the_x_axis_is_logarithmic_in_decades() -> None:
    ticks = re.findall(r"class='xtick' x='([\d.]+)'[^>]*>([\d,]+)<", _page())
    # 100 to 1,000,000 (325 to 145,621 trainable parameters), equally spaced.
    assert [label for _, label in ticks] == ["100", "1,000", "10,000", "100,000", "1,000,000"]
    positions = [float(x) for x, _ in ticks]
    gaps = {round(b - a, 1) for a, b in itertools.pairwise(positions)}
    assert len(gaps) == 1


def test_the_front_is_drawn_and_each_point_says_depth_lr_and_run() -> None:
    page = _page()
    assert "<polyline id='front'" in page
    # The hover text of trial 1: its depth, learning rate, value, size and run.
    assert (
        "trial 1 state COMPLETE depth k=1 lr 0.0003 method unfreeze val_accuracy 0.8300 "
        "trainable_params 74,053 run trial-0001"
    ) in page
    # Each point and table row carries its run's route; outside MLflow the page's base is used.
    assert page.count("data-run='#/experiments/1/runs/run-4'") == 2
    assert 'const base = location.protocol === "blob:"' in page
    assert '"http://127.0.0.1:5000"' in page


def test_a_study_without_runs_still_draws_every_trial() -> None:
    table = trials_frame(summary_study())
    page = comparison_html(table, pareto_table(table), "toy", {}, "")
    assert page.count("class='point'") == 6
    assert "data-run=''" in page
