"""Tests for `freezesweep bench`: it runs, and prints a median ratio with its spread."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from freezesweep.bench import PairResult, resident_bytes
from freezesweep.cli import main
from freezesweep.trial import run_trial
from tests.shrink import CONF, compose_config


def test_a_pair_prints_its_median_and_spread() -> None:
    result = PairResult("P9", "example", (2.0, 3.0, 10.0), "a note")
    # The median, not the mean, with the smallest and largest ratio and the repeat count.
    assert result.line() == "P9 example: median 3.00x (2.00x-10.00x over 3 repeats); a note"


@pytest.mark.slow  # about a minute on 2 shared cores; .ci/run also runs `freezesweep bench --quick`
def test_bench_quick_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # The cheapest pair of the CI command, through the console script's entry point.
    assert main(["bench", "--quick", "--only", "P4", "--config-dir", str(CONF)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("P4")]
    assert re.fullmatch(
        r"P4 head-only digits stage, 1 epochs, freezesweep/bare Keras: "
        r"median \d+\.\d\dx \(\d+\.\d\dx-\d+\.\d\dx over 3 repeats\)",
        line,
    )


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
