"""Hydra's Optuna sweeper examples, run unchanged but for the sweeper's name
(tests/sweeper/hydra_examples).

Each test mirrors one of that plugin's own example tests; what it asserts is what the example
promises there (the results file, the Pareto set, the custom search space), plus what differs
here by design (a grid sweep stops when the grid is done, `motpe` runs TPE).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tests.helpers.processes import Completed, run

EXAMPLES = Path(__file__).parent / "hydra_examples"


def run_example(tmp_path: Path, script: str, *overrides: str, ok: bool = True) -> Completed:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    options = [arg for arg in overrides if arg.startswith("--")]  # argparse: before overrides
    command = [
        sys.executable,
        str(EXAMPLES / script),
        "--multirun",
        *options,
        f"hydra.sweep.dir={tmp_path}/multirun",
        *(arg for arg in overrides if not arg.startswith("--")),
    ]
    process = run(command, cwd=tmp_path, env=environment, timeout=300)
    if ok:
        assert process.returncode == 0, process.stdout + process.stderr
    return process


def results(tmp_path: Path) -> Any:
    return OmegaConf.to_container(OmegaConf.load(tmp_path / "multirun/optimization_results.yaml"))


def load(tmp_path: Path, study_name: str) -> optuna.Study:
    # storage: null in every example: the study lives in the sweep directory.
    return optuna.load_study(
        study_name=study_name, storage=f"sqlite:///{tmp_path}/multirun/optuna.db"
    )


def dominates(x: list[float], y: list[float]) -> bool:
    return all(a <= b for a, b in zip(x, y, strict=True)) and any(
        a < b for a, b in zip(x, y, strict=True)
    )


@pytest.mark.parametrize("with_commandline", [pytest.param(True, marks=pytest.mark.slow), False])
def test_sphere_example_with_tpe(tmp_path: Path, with_commandline: bool) -> None:
    # The documented sphere sweep: x is a float range on a key whose default is the integer 1.
    extra = ["x=choice(0, 1, 2)", "y=0"] if with_commandline else []
    run_example(
        tmp_path, "sphere.py", "hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.seed=123", "~z",
        *extra,
    )  # fmt: skip
    study = load(tmp_path, "sphere")
    returned = results(tmp_path)
    assert len(study.trials) == 20
    assert returned["name"] == "optuna"
    assert returned["best_params"] == study.best_trial.params
    assert returned["best_value"] == study.best_trial.value
    assert ("y" in returned["best_params"]) is not with_commandline
    # Hydra's own bound for TPE on this sphere (95th percentile over 1000 seeds).
    assert returned["best_value"] <= 2.27
    if not with_commandline:
        xs = {trial.params["x"] for trial in study.trials}
        assert xs <= {-5.5 + 0.5 * i for i in range(22)} and any(x % 1 for x in xs)


@pytest.mark.parametrize(
    ("group", "sampler", "model_phase"),
    [
        ("tpe", "TPESampler", "n_startup_trials=2"),
        ("random", "RandomSampler", None),
        ("cmaes", "CmaEsSampler", "n_startup_trials=2"),
        ("nsgaii", "NSGAIISampler", "population_size=4"),
        ("motpe", "TPESampler", "n_startup_trials=2"),
        ("qmc", "QMCSampler", None),
        ("gp", "GPSampler", "n_startup_trials=2"),
        ("bruteforce", "BruteForceSampler", None),
        ("nsgaiii", "NSGAIIISampler", "population_size=4"),
    ],
)
def test_every_sampler_group_runs_the_sphere_example(
    tmp_path: Path, group: str, sampler: str, model_phase: str | None
) -> None:
    # The group swaps the sampler cleanly: the config's `sampler.seed: 123` goes along with it.
    # A short start-up (or generation) lets the model-based phase run within 8 trials too.
    if group == "cmaes":
        pytest.importorskip("cmaes")
    if group == "gp":
        pytest.importorskip("torch")  # GPSampler fits its model with PyTorch.
    extra = [f"hydra.sweeper.sampler.{model_phase}"] if model_phase else []
    process = run_example(
        tmp_path, "sphere.py", f"hydra/sweeper/sampler={group}", "hydra.sweeper.n_trials=8", *extra
    )
    assert f"sampler optuna.samplers.{sampler} seed " in process.stderr + process.stdout
    assert "seed None" not in process.stderr + process.stdout
    assert [t.state for t in load(tmp_path, "sphere").trials] == [TrialState.COMPLETE] * 8


@pytest.mark.parametrize("n_trials", [10, 1])
def test_grid_example(tmp_path: Path, n_trials: int) -> None:
    # tests/conf/test_grid.yaml of Hydra's plugin: 2 x 2 x 2 points; a grid sweep ends with its
    # grid, so 10 trials run 8.
    run_example(
        tmp_path, "sphere.py", f"--config-dir={EXAMPLES}/tests_conf", "--config-name=test_grid",
        f"hydra.sweeper.n_trials={n_trials}",
    )  # fmt: skip
    returned = results(tmp_path)
    trials = load(tmp_path, "sphere").trials
    assert len(trials) == min(n_trials, 8)
    best = returned["best_params"]
    if n_trials >= 8:
        assert {(t.params["x"], t.params["y"], t.params["z"]) for t in trials} == {
            (x, y, z) for x in (-1, 1) for y in (-1.0, 0.0) for z in ("foo", "bar")
        }
        assert returned["best_value"] == 1 and abs(best["x"]) == 1 and best["y"] == 0
    else:
        assert best["x"] in [-1, 1] and best["y"] in [-1, 0]
    assert best["z"] in ["foo", "bar"]


@pytest.mark.parametrize("with_commandline", [pytest.param(True, marks=pytest.mark.slow), False])
def test_multi_objective_example(tmp_path: Path, with_commandline: bool) -> None:
    # Two objectives, nsgaii from the config; the results file holds a non-dominated set.
    extra = ["x=range(0, 5)", "y=range(0, 3)"] if with_commandline else []
    run_example(tmp_path, "multi-objective.py", *extra)
    solutions = results(tmp_path)["solutions"]
    assert solutions and len(load(tmp_path, "multi-objective").trials) == 20
    steps = {0} if with_commandline else {0, 0.5}
    for x in solutions:
        assert x["params"]["x"] % 1 in steps and x["params"]["y"] % 1 in steps
        assert not any(dominates(y["values"], x["values"]) for y in solutions)


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_multi_objective_with_the_removed_motpe_runs_tpe(tmp_path: Path) -> None:
    # Hydra's plugin now refuses `motpe` (Optuna 4 removed MOTPESampler); here it is TPE, which
    # handles several objectives.
    process = run_example(
        tmp_path, "multi-objective.py", f"--config-dir={EXAMPLES}/tests_conf",
        "--config-name=test_motpe",
    )  # fmt: skip
    assert "sampler optuna.samplers.TPESampler" in process.stderr + process.stdout
    assert len(load(tmp_path, "multi-objective").trials) == 20


def test_custom_search_space_example(tmp_path: Path) -> None:
    # configure() suggests z near x and a new key +w; the jobs receive both.
    run_example(
        tmp_path, "custom-search-space-objective.py", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=123", "max_z_difference_from_x=0.3",
    )  # fmt: skip
    best = results(tmp_path)["best_params"]
    assert abs(best["x"] - best["z"]) <= 0.3
    assert 0 <= best["+w"] <= 1
    study = load(tmp_path, "custom-search-space")
    for trial in study.trials:
        w, x, y, z = (trial.params[k] for k in ("+w", "x", "y", "z"))
        assert trial.value == pytest.approx(w**2 + x**2 + y**2 + z**2)


@pytest.mark.parametrize("max_failure_rate", [0.5, pytest.param(1.0, marks=pytest.mark.slow)])
def test_failure_rate_example(tmp_path: Path, max_failure_rate: float) -> None:
    # Every job raises: 0.5 stops the sweep non-zero naming the error; 1.0 runs all 20 and exits 0.
    process = run_example(
        tmp_path, "sphere.py", "hydra.sweeper.n_jobs=2", "hydra/sweeper/sampler=random",
        f"hydra.sweeper.max_failure_rate={max_failure_rate}", "error=true", ok=False,
    )  # fmt: skip
    states = [t.state for t in load(tmp_path, "sphere").trials]
    if max_failure_rate < 1.0:
        assert process.returncode != 0
        assert "Last reason: RuntimeError: cfg.error is True" in process.stderr
        assert "Traceback" not in process.stderr  # one line (Hydra's compact form)
        assert states == [TrialState.FAIL] * 4  # judged after the first batches of 2
    else:
        assert process.returncode == 0, process.stderr
        assert states == [TrialState.FAIL] * 20


def test_target_form_replaces_the_default_sampler(tmp_path: Path) -> None:
    # A `_target_` mapping (the other documented form) replaces the default TPE option.
    process = run_example(
        tmp_path, "sphere.py", "hydra.sweeper.sampler={_target_: optuna.samplers.QMCSampler}",
        "hydra.sweeper.n_trials=3",
    )  # fmt: skip
    assert "sampler optuna.samplers.QMCSampler seed " in process.stderr + process.stdout


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_seeded_sweep_reproduces_in_another_process(tmp_path: Path) -> None:
    # Same command, fresh storage, another process: the same trials in the same order, with the
    # same values (TPE's 10 random start-up trials and 4 model-based ones).
    runs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        run_example(tmp_path / name, "sphere.py", "hydra.sweeper.n_trials=14")
        runs.append([(t.params, t.values) for t in load(tmp_path / name, "sphere").trials])
    assert len(runs[0]) == 14
    assert runs[0] == runs[1]
