"""Tests for `freezesweep bench`: it runs, and prints a median ratio with its spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from freezesweep.bench import PairResult, resident_bytes
from freezesweep.cli import main
from freezesweep.trial import run_trial
from tests.shrink import compose_config


def test_a_pair_prints_its_median_and_spread() -> None:
    result = PairResult("P9", "example", (2.0, 3.0, 10.0), "a note")
    # The median, not the mean, with the smallest and largest ratio and the repeat count.
    assert result.line() == "P9 example: median 3.00x (2.00x-10.00x over 3 repeats); a note"


def test_bench_refuses_fewer_than_three_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--repeats", "2"]) == 2
    assert capsys.readouterr().err == "error: --repeats must be >= 3; got 2\n"


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="measured on TF 2.21 CPU: resident memory grows about 25-30 MiB per in-process "
    "trial with the cache off as well (1,055 MiB after 2 trials, 1,528 MiB after 20 with it "
    "on): models or traced functions outlive keras.backend.clear_session; not yet found",
)
def test_in_process_trials_release_their_models(tmp_path: Path) -> None:
    # Resident memory after 20 tiny trials stays within 1.2x of that after 2 (models released,
    # the cache bounded).
    after = {}
    for trial in range(1, 21):
        overrides = ("tracking.enabled=false", "data.train_per_class=2", f"seed={trial}")
        run_trial(compose_config(tmp_path, *overrides, f"finetune.top_k={trial % 5}"))
        after[trial] = resident_bytes()
    assert after[20] <= 1.2 * after[2]
