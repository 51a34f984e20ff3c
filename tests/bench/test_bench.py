"""Tests for `freezesweep bench`: it runs, and prints a median ratio with its spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from freezesweep.bench import PairResult
from freezesweep.cli import main


def test_a_pair_prints_its_median_and_spread() -> None:
    result = PairResult("P9", "example", (2.0, 3.0, 10.0), "a note")
    # The median, not the mean, with the smallest and largest ratio and the repeat count.
    assert result.line() == "P9 example: median 3.00x (2.00x-10.00x over 3 repeats); a note"
    # A target within a percent of 1 needs a third digit to be read against.
    close = PairResult("P9", "close", (1.0254, 1.0281, 1.0349), digits=3)
    assert close.line() == "P9 close: median 1.028x (1.025x-1.035x over 3 repeats)"


def test_bench_refuses_fewer_than_three_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--repeats", "2"]) == 2
    assert capsys.readouterr().err == "error: --repeats must be >= 3; got 2\n"


@pytest.mark.slow
def test_twenty_in_process_trials_hold_at_most_a_fifth_more_memory_than_two() -> None:
    # Issue 9's P6 bound, on the bench's own pair (tiny digits trials, top_k cycling, new seeds).
    from pathlib import Path

    from freezesweep.bench._overhead_pairs import p6_memory

    (ratio,) = p6_memory(Path(__file__).parents[2] / "conf", quick=False, repeats=1).ratios
    assert ratio <= 1.2


def test_p5_counts_the_time_between_trials_and_the_framework_calls_inside_them() -> None:
    from freezesweep.bench._framework_probe import framework_share

    record = {
        # Three trials; the first (warm-up) is left out of the share.
        "spans": [(0.0, 10.0), (11.0, 21.0), (22.5, 32.5)],
        "inside": [{"mlflow": 3.0}, {"mlflow": 0.5, "optuna": 0.25}, {"mlflow": 0.5}],
        # One composition before the sweep's first trial ended (its preflight), one after.
        "composes": [(-1.0, 0.2), (21.2, 0.3)],
        # Each trial's fits, less the framework calls inside them.
        "train": [9.0, 7.5, 8.0],
    }
    share = framework_share(record)
    # Own work 9.25 s and 9.5 s; 22.5 s from the first trial's end to the last one's.
    assert share.trial == pytest.approx(9.375)
    assert share.framework == pytest.approx((22.5 - 18.75) / 2)
    assert (share.mlflow, share.optuna) == (pytest.approx(0.5), pytest.approx(0.125))
    assert share.between == pytest.approx(1.25)
    assert share.compose == pytest.approx(0.15)
    assert share.own_ratio == pytest.approx(1.2)
    assert share.train == pytest.approx(7.75)
    assert share.ratio == pytest.approx((7.75 + 1.875) / 7.75)


def test_p7_replays_every_table_and_compares_the_default_with_each_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep.bench._replay_pair import p7_time_to_answer
    from freezesweep.replay.table import write_table
    from tests.helpers.grids import synthetic_table
    from tests.helpers.shrink import CONF

    (tmp_path / "conf").symlink_to(CONF)
    write_table(synthetic_table(), tmp_path / "benchmarks" / "tables" / "synthetic.csv")
    result = p7_time_to_answer(tmp_path / "conf", True, 1)
    printed = capsys.readouterr().out
    assert result.name == "P7" and len(result.ratios) == 1
    # The default compared with itself is 1; each baseline is named in the note.
    assert result.note.startswith("synthetic: tpe_median/default 1.00x, tpe/default ")
    assert "random/default" in result.note
    assert printed.startswith("synthetic: grid: 15 points, best val_accuracy")
