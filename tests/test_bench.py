"""Tests for `freezesweep bench`: it runs, and prints a median ratio with its spread."""

from __future__ import annotations

import pytest

from freezesweep.bench import PairResult
from freezesweep.cli import main


def test_a_pair_prints_its_median_and_spread() -> None:
    result = PairResult("P9", "example", (2.0, 3.0, 10.0), "a note")
    # The median, not the mean, with the smallest and largest ratio and the repeat count.
    assert result.line() == "P9 example: median 3.00x (2.00x-10.00x over 3 repeats); a note"


def test_bench_refuses_fewer_than_three_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--repeats", "2"]) == 2
    assert capsys.readouterr().err == "error: --repeats must be >= 3; got 2\n"


@pytest.mark.slow
def test_twenty_in_process_trials_hold_at_most_a_fifth_more_memory_than_two() -> None:
    # Issue 9's P6 bound, on the bench's own pair (tiny digits trials, top_k cycling, new seeds).
    from pathlib import Path

    from freezesweep.bench._overhead_pairs import p6_memory

    (ratio,) = p6_memory(Path(__file__).parents[1] / "conf", quick=False, repeats=1).ratios
    assert ratio <= 1.2
