"""`hydra.sweeper.warm_start` end to end, on Hydra's sphere example: the earlier study's trials
reach the sampler, never the trial count or the results; a bad one stops the sweep first."""

from __future__ import annotations

from pathlib import Path

import optuna
from omegaconf import OmegaConf

from freezesweep.study.own_trials import is_warm_start, own_trials
from tests.sweeper.test_hydra_examples import run_example


def _sweep(tmp_path: Path, name: str, n_trials: int, *extra: str, ok: bool = True) -> str:
    process = run_example(
        tmp_path, "sphere.py", "~z",
        f"hydra.sweep.dir={tmp_path}/{name}",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.n_trials={n_trials}",
        *extra, ok=ok,
    )  # fmt: skip
    return process.stdout + process.stderr


def _study(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


def test_a_warm_started_sweep_runs_exactly_its_own_n_trials(tmp_path: Path) -> None:
    _sweep(tmp_path, "old", 6)
    output = _sweep(tmp_path, "new", 3, "hydra.sweeper.warm_start=[old]")
    study = _study(tmp_path, "new")
    # The 6 earlier trials came first (#0-#5), then exactly n_trials=3 own ones.
    assert [t.number for t in study.trials if is_warm_start(t)] == [0, 1, 2, 3, 4, 5]
    assert [t.number for t in own_trials(study)] == [6, 7, 8]
    assert "warm start: 'old' (6 trials): the sampler's history only, never counted" in output
    assert "[3/3]" in output and "study 'new': 3 trials (3 COMPLETE)" in output
    # optimization_results.yaml names the best own trial, whatever the earlier study found.
    results = OmegaConf.load(tmp_path / "new/optimization_results.yaml")
    assert results.best_value == min(t.value for t in own_trials(study))
    # A second invocation continues the study to its new total; the earlier trials stay once.
    output = _sweep(tmp_path, "new", 5, "hydra.sweeper.warm_start=[old]")
    study = _study(tmp_path, "new")
    assert len(own_trials(study)) == 5 and len(study.trials) == 11
    assert "warm start: 'old' (6 trials)" in output  # still said: which studies it started from


def test_an_unknown_warm_start_study_stops_the_sweep_before_anything_exists(
    tmp_path: Path,
) -> None:
    _sweep(tmp_path, "old", 2)
    output = _sweep(tmp_path, "new", 3, "hydra.sweeper.warm_start=[old,olde]", ok=False)
    url = f"sqlite:///{tmp_path}/optuna.db"
    assert f"hydra.sweeper.warm_start: study 'olde' in {url} does not exist." in output
    # Refused before the study, the sweep folder or any job.
    assert not (tmp_path / "new").exists()
    assert "new" not in [s.study_name for s in optuna.get_all_study_summaries(url)]
