"""End-to-end: `python tests/helpers/sweeper_app/app.py -m ...` as a subprocess, then read its
study."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from freezesweep.study.attributes import FAIL_REASON_ATTR
from tests.helpers.processes import Completed, run

APP = Path(__file__).parents[1] / "helpers" / "sweeper_app" / "app.py"


def run_app(
    tmp_path: Path, *overrides: str, env: dict[str, str] | None = None, ok: bool = True
) -> Completed:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    environment.update(MLFLOW_DISABLE_TELEMETRY="true", **(env or {}))
    command = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
        *overrides,
    ]
    process = run(command, cwd=tmp_path, env=environment, timeout=120)
    if ok:
        assert process.returncode == 0, process.stdout + process.stderr
    return process


def load_study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path}/optuna.db")


def job_results(tmp_path: Path) -> dict[str, str]:
    return {
        path.parent.name: path.read_text()
        for path in sorted((tmp_path / "multirun").glob("trial-*/result.json"))
    }


def test_sweep_runs_n_trials_each_in_its_trial_directory(tmp_path: Path) -> None:
    # n_trials trials finish; job k ran in trial-000k with exactly the params Optuna recorded.
    run_app(tmp_path, "hydra.sweeper.n_trials=3")
    trials = load_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    results = job_results(tmp_path)
    assert sorted(results) == ["trial-0000", "trial-0001", "trial-0002"]
    for trial in trials:
        job = json.loads(results[f"trial-{trial.number:04d}"])
        del job["pid"]
        assert job == {"number": trial.number, "x": trial.params["x"], "n": trial.params["n"]}


def test_second_invocation_tops_up_to_the_new_total_without_overwriting(tmp_path: Path) -> None:
    # n_trials is the study total: 3 then 5 gives 5 trials numbered 0..4, old job dirs untouched.
    run_app(tmp_path, "hydra.sweeper.n_trials=3")
    first = job_results(tmp_path)
    run_app(tmp_path, "hydra.sweeper.n_trials=5")
    run_app(tmp_path, "hydra.sweeper.n_trials=5")  # already complete: runs nothing
    trials = load_study(tmp_path).trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    results = job_results(tmp_path)
    assert sorted(results) == [f"trial-{n:04d}" for n in range(5)]
    assert {name: results[name] for name in first} == first


def test_raising_and_nan_trials_fail_with_a_reason_and_the_sweep_completes(
    tmp_path: Path,
) -> None:
    # An exception and a NaN become FAIL with fail_reason; 2 of 5 is within the 0.5 budget.
    run_app(tmp_path, "hydra.sweeper.n_trials=5", "raise_on=[1]", "nan_on=[3]")
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs[FAIL_REASON_ATTR] == "RuntimeError: asked to fail in trial 1"
    assert trials[3].user_attrs[FAIL_REASON_ATTR] == "returned nan for val_accuracy"


def test_exceeding_the_failure_budget_stops_the_sweep_with_a_non_zero_exit(
    tmp_path: Path,
) -> None:
    # All failing: the budget is judged after 3 trials, the sweep stops there and exits non-zero.
    process = run_app(tmp_path, "hydra.sweeper.n_trials=8", "raise_on=[0,1,2,3,4,5,6,7]", ok=False)
    assert process.returncode != 0
    assert "max_failure_rate=0.5" in process.stderr
    assert [t.state for t in load_study(tmp_path).trials] == [TrialState.FAIL] * 3


def test_mlflow_refusing_the_report_ends_the_sweep_in_one_line_with_nothing_running(
    tmp_path: Path,
) -> None:
    # The real hooks on a real store; MLflow refuses the report (not a server that is down).
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    process = run_app(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "tracking.enabled=true",
        f"tracking.uri={uri}",
        f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
        "hydra.sweeper.preflight=freezesweep.study.hooks.check_tracking",
        "hydra.sweeper.on_sweep_start=freezesweep.study.hooks.on_sweep_start",
        "hydra.sweeper.on_sweep_end=app.end_refused_by_mlflow",
        ok=False,
    )
    # Exit 1 and one line naming the step and MLflow's reason (then Hydra's HYDRA_FULL_ERROR
    # hint), no traceback.
    assert process.returncode == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr
    assert [line for line in process.stderr.splitlines() if line][-2] == (
        "the end of sweep 'toy' failed publishing the report on the study's parent run "
        "(MlflowException: INTERNAL_ERROR: the server refused the report): the trials are all "
        f"told and the report is in {tmp_path}/multirun/report; its parent run ended FAILED. "
        "`freezesweep report --study toy` publishes the report once MLflow accepts it"
    )
    assert [t.state for t in load_study(tmp_path).trials] == [TrialState.COMPLETE] * 2
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    # Nothing RUNNING: the two trial runs FINISHED, the study's parent run FAILED.
    assert sorted(run.info.status for run in runs) == ["FAILED", "FINISHED", "FINISHED"]


def test_hooks_run_before_and_after_the_sweep_even_when_the_budget_stops_it(
    tmp_path: Path,
) -> None:
    # on_sweep_start sees the study before any trial; on_sweep_end after the last, before exit 1.
    process = run_app(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "raise_on=[0,1,2,3]",
        "hydra.sweeper.on_sweep_start=app.record_hook",
        "hydra.sweeper.on_sweep_end=app.record_hook",
        ok=False,
    )
    assert process.returncode != 0
    calls = [json.loads(line) for line in (tmp_path / "hooks.jsonl").read_text().splitlines()]
    assert calls == [{"finished": 0, "study": "toy"}, {"finished": 3, "study": "toy"}]


def test_each_told_trial_reaches_on_trial_end_and_a_progress_line(tmp_path: Path) -> None:
    process = run_app(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "raise_on=[1]",
        "hydra.sweeper.on_trial_end=app.record_trial_hook",
    )
    calls = [json.loads(line) for line in (tmp_path / "trials.jsonl").read_text().splitlines()]
    # The hook sees every trial once, after it was told (so with its final state).
    assert calls == [
        {"number": 0, "state": "COMPLETE"},
        {"number": 1, "state": "FAIL"},
        {"number": 2, "state": "COMPLETE"},
    ]
    # After each trial's line, a progress line: finished of total, best so far, times.
    progress = [line.split("] ", 1)[1] for line in process.stdout.splitlines() if "/3] " in line]
    assert [line[:5] for line in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert re.fullmatch(r"\[1/3\] best [\d.]+ \(#0\) · \d+s elapsed · ETA \d+s", progress[0])
    assert progress[-1].endswith(" elapsed · done")


def test_enqueued_params_run_first_and_once_per_study(tmp_path: Path) -> None:
    # Enqueued sets are trials 0 and 1, and a second invocation does not enqueue them again.
    enqueue = "hydra.sweeper.enqueue=[{x: 0.25, n: 1}, {x: 0.75, n: 4}]"
    run_app(tmp_path, "hydra.sweeper.n_trials=3", enqueue)
    run_app(tmp_path, "hydra.sweeper.n_trials=5", enqueue)
    params = [t.params for t in load_study(tmp_path).trials]
    assert len(params) == 5
    assert params[:2] == [{"x": 0.25, "n": 1}, {"x": 0.75, "n": 4}]
    assert {"x": 0.25, "n": 1} not in params[2:] and {"x": 0.75, "n": 4} not in params[2:]


def test_pruner_prunes_through_the_reattached_trial(tmp_path: Path) -> None:
    # The job's trial uses the sweeper's pruner: the bad enqueued trial stops after one report.
    run_app(
        tmp_path,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner={_target_: optuna.pruners.ThresholdPruner, lower: 0.2}",
        "hydra.sweeper.enqueue=[{x: 0.3, n: 1}, {x: 1.0, n: 4}]",
    )
    good, bad = load_study(tmp_path).trials
    assert good.state == TrialState.COMPLETE and sorted(good.intermediate_values) == [0, 1, 2, 3]
    assert bad.state == TrialState.PRUNED and sorted(bad.intermediate_values) == [0]


def test_pruner_on_two_directions_is_rejected_before_any_storage_exists(tmp_path: Path) -> None:
    # A multi-objective study cannot prune: clear error naming the key, no study database.
    process = run_app(
        tmp_path,
        "hydra.sweeper.direction=[maximize,minimize]",
        "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner}",
        "pareto=true",
        ok=False,
    )
    assert process.returncode != 0
    assert "hydra.sweeper.pruner: Optuna prunes single-objective studies only" in process.stderr
    assert not (tmp_path / "optuna.db").exists()


def test_bad_sweep_configs_fail_before_any_storage_exists(tmp_path: Path) -> None:
    # A bad n_trials, a grammar error and a key the config lacks all fail before the study exists.
    for override, message in [
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials must be an integer >= 1"),
        ("hydra.sweeper.params.x='interval(0,'", "hydra.sweeper.params.x: cannot parse"),
        ("nope=range(1,3)", "Could not override 'nope'"),
        (
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.params.x: the grid sampler needs choice() or range(), not "
            "FloatDistribution(high=1.0, log=False, low=0.0, step=None).",
        ),
    ]:
        process = run_app(tmp_path, override, ok=False)
        assert process.returncode != 0 and message in process.stderr, process.stderr
        assert not (tmp_path / "optuna.db").exists()


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_workers_with_different_identities_draw_different_first_suggestions(
    tmp_path: Path,
) -> None:
    # Same base seed: array tasks 0 and 1 start differently; task 0 again reproduces itself.
    first = {}
    for name, task in [("a", "0"), ("b", "1"), ("c", "0")]:
        (tmp_path / name).mkdir()
        run_app(
            tmp_path / name,
            "hydra.sweeper.n_trials=1",
            "hydra.sweeper.seed=7",
            env={"SLURM_ARRAY_TASK_ID": task},
        )
        first[name] = load_study(tmp_path / name).trials[0].params
    assert first["a"] != first["b"]
    assert first["a"] == first["c"]


def test_a_brute_force_sweep_ends_with_its_grid(tmp_path: Path) -> None:
    # 2 x 2 points and n_trials=10: BruteForceSampler asks the study to stop after the 4th trial
    # (Study.stop raises outside optimize); the sweep ends there, exit 0, each point once.
    process = run_app(
        tmp_path,
        "hydra/sweeper/sampler=bruteforce",
        "hydra.sweeper.n_trials=10",
        "x=choice(0.1, 0.2)",  # The command line replaces the app's interval(0, 1).
        "n=range(1, 3)",
    )
    trials = load_study(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert sorted((t.params["x"], t.params["n"]) for t in trials) == [
        (0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2),
    ]  # fmt: skip
    assert "tried every point of the search space" in process.stdout + process.stderr
