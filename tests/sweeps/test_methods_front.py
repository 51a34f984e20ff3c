"""End to end: `python sweep.py -m sweep=methods_front`, shrunk, and its report's method column."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import optuna
import pytest

from freezesweep.study.spaces import LORA_RANKS, lora_rank_for_lora
from tests.helpers.processes import run
from tests.helpers.shrink import ROOT


def test_the_lora_rank_is_searched_for_lora_trials_only() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    methods = optuna.distributions.CategoricalDistribution(["unfreeze", "lora"])
    for method in ("unfreeze", "lora"):
        study.enqueue_trial({"finetune.method": method})
        trial = study.ask({"finetune.method": methods})
        lora_rank_for_lora(None, trial)
        # Only a lora trial carries a rank, one of the searched ones.
        if method == "lora":
            assert trial.params["finetune.lora_rank"] in LORA_RANKS
        else:
            assert "finetune.lora_rank" not in trial.params


@pytest.mark.slow
def test_a_methods_front_sweep_marks_each_point_with_its_method(tmp_path: Path) -> None:
    environment = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    result = run(
        [
            sys.executable,
            str(ROOT / "sweep.py"),
            "-m",
            "sweep=methods_front",
            "hydra.sweeper.n_trials=4",
            "schedule.stages.0.epochs=1",
            "schedule.stages.1.epochs=1",
            "data.train_per_class=5",
        ],
        cwd=tmp_path,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = tmp_path / "sweeps" / "methods_front" / "report"
    with (report / "trials.csv").open() as handle:
        trials = list(csv.DictReader(handle))
    # The four enqueued baselines ran first, one per method, each with its own trainable count.
    assert [row["method"] for row in trials[:4]] == ["unfreeze", "lora", "bitfit", "norm"]
    assert len({row["trainable_params"] for row in trials[:4]}) == 4
    assert float(trials[1]["finetune.lora_rank"]) == 4 and trials[0]["finetune.lora_rank"] == ""
    with (report / "pareto.csv").open() as handle:
        pareto = list(csv.DictReader(handle))
    # Every point of the front names its method.
    assert pareto and all(row["method"] in ("unfreeze", "lora", "bitfit", "norm") for row in pareto)
    assert (report / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
