"""End to end: the real `python sweep.py -m` as subprocesses, read back from Optuna and MLflow.

Every sweep runs in its own temporary directory (the default stores `sqlite:///sweeps/optuna.db`
and `sqlite:///mlruns/mlflow.db` are relative to it) with trials shrunk to 1 + 2 epochs on 5
images per class. The default sweep is run once and topped up once, and several tests read that
one result, to keep the whole module within a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from freezesweep.study.attributes import FAIL_REASON_ATTR, PRUNER_ATTR
from freezesweep.study.storage import open_storage
from tests.helpers.processes import SWEEP, Completed, run_script

pytestmark = pytest.mark.slow

SMALL = [
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=2",
    "data.train_per_class=5",
    "trainer.verbose=0",
]
EPOCHS = 1 + 2  # of a trial that is not pruned, with SMALL
FINISHED = {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
BASELINES = [
    {"finetune.top_k": 0, "finetune.lr": 3.0e-4},
    {"finetune.top_k": 4, "finetune.lr": 3.0e-4},
]

# The real sweep.py, except that the trial numbered NAN_TRIAL returns NaN as its final
# val_accuracy. The real app cannot be made to return NaN through its config: a diverged model
# (finetune.lr=1e6, NaN weights) still predicts a class for every image, so its accuracy is a
# number (0.2, see the pruning test), and NaN inputs give 0.0. So the number is forced right
# after training; everything else (Hydra, the sweeper, the objective, tracking) is the real code.
NAN_WRAPPER = """
import runpy

from hydra.core.hydra_config import HydraConfig

import freezesweep.trial as objective

real_run_schedule = objective.run_schedule


def run_schedule(*args, **kwargs):
    result = real_run_schedule(*args, **kwargs)
    if "++trial.number={number}" in HydraConfig.get().overrides.task:
        result.val_accuracy = float("nan")
    return result


objective.run_schedule = run_schedule
runpy.run_path({sweep!r}, run_name="__main__")
"""


def run_sweep(cwd: Path, *overrides: str, script: Path = SWEEP) -> Completed:
    """`python sweep.py -m SMALL... overrides...` in `cwd`, with the default stores under it."""
    return run_script(cwd, "-m", *SMALL, *overrides, script=script)


def ok(process: Completed) -> Completed:
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    return process


def load_study(cwd: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{cwd}/sweeps/optuna.db")


def mlflow_client(cwd: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlruns/mlflow.db")


@dataclass(frozen=True)
class Tracked:
    """What one study left in MLflow: every run of its experiment, split by role."""

    client: MlflowClient
    runs: list[Run]
    parents: list[Run]
    children: dict[int, Run]  # by trial number (the `freezesweep.trial` tag)
    child_names: list[str]

    @property
    def parent(self) -> Run:
        (parent,) = self.parents
        return parent


def tracked(cwd: Path, study_name: str) -> Tracked:
    client = mlflow_client(cwd)
    experiment = client.get_experiment_by_name(study_name)
    assert experiment is not None, f"no MLflow experiment {study_name!r}"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if run.data.tags.get("freezesweep.role") == "study"]
    parent_ids = {run.info.run_id for run in parents}
    nested = [run for run in runs if run.data.tags.get("mlflow.parentRunId") in parent_ids]
    return Tracked(
        client=client,
        runs=runs,
        parents=parents,
        children={int(run.data.tags["freezesweep.trial"]): run for run in nested},
        child_names=sorted(run.info.run_name for run in nested),
    )


def pareto_numbers(mlflow: Tracked, into: Path) -> set[int]:
    """The trial numbers in the `pareto.csv` artifact of the study's parent run."""
    into.mkdir(parents=True, exist_ok=True)
    path = mlflow.client.download_artifacts(mlflow.parent.info.run_id, "pareto.csv", str(into))
    with open(path, newline="") as file:
        return {int(row["number"]) for row in csv.DictReader(file)}


def metric_steps(mlflow: Tracked, run: Run, key: str) -> list[int]:
    return sorted(metric.step for metric in mlflow.client.get_metric_history(run.info.run_id, key))


def file_states(directory: Path) -> dict[str, tuple[int, str]]:
    """Every file under `directory`: (mtime in ns, SHA-256 of its content)."""
    return {
        str(path.relative_to(directory)): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def non_dominated(points: dict[int, tuple[float, float]]) -> set[int]:
    """Keys whose (accuracy, params) no other point beats: accuracy up, params down."""
    front = set()
    for number, (accuracy, params) in points.items():
        dominated = False
        for other, (other_accuracy, other_params) in points.items():
            if other == number:
                continue
            at_least_as_good = other_accuracy >= accuracy and other_params <= params
            strictly_better = other_accuracy > accuracy or other_params < params
            if at_least_as_good and strictly_better:
                dominated = True
                break
        if not dominated:
            front.add(number)
    return front


def assert_optuna_and_mlflow_agree(trials: list[FrozenTrial], mlflow: Tracked, study: str) -> None:
    """One parent run; one FINISHED child per trial with the trial's params, values and tags."""
    # One parent run per study, and nothing else in the experiment but its children.
    assert len(mlflow.parents) == 1
    assert len(mlflow.runs) == 1 + len(trials)
    # Exactly one child run per trial, named trial-NNNN.
    assert sorted(mlflow.children) == [trial.number for trial in trials]
    assert mlflow.child_names == [f"trial-{trial.number:04d}" for trial in trials]
    for trial in trials:
        child = mlflow.children[trial.number]
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        # Nested under the parent, tagged with study, trial number and final state; FINISHED.
        assert child.info.run_name == f"trial-{trial.number:04d}"
        assert tags["mlflow.parentRunId"] == mlflow.parent.info.run_id
        assert tags["freezesweep.study"] == study
        assert tags["freezesweep.trial"] == str(trial.number)
        assert tags["freezesweep.state"] == "COMPLETE" == trial.state.name
        assert child.info.status == "FINISHED"
        # The child logged the params Optuna suggested (strings in MLflow).
        assert params["finetune.top_k"] == str(trial.params["finetune.top_k"])
        assert float(params["finetune.lr"]) == trial.params["finetune.lr"]
        # The child's final val_accuracy is the value Optuna was told.
        assert metrics["val_accuracy"] == trial.value
        # Trainable params, recorded on the trial before training, equal the child's metric.
        assert metrics["trainable_params"] == trial.user_attrs["trainable_params"]


# ---------------------------------------------------------------------------------------------
# The default sweep (top_k_lr): 3 trials, then topped up to 5 by a second invocation.


@dataclass(frozen=True)
class Snapshot:
    process: Completed
    trials: list[FrozenTrial]
    directions: int
    mlflow: Tracked
    artifacts: set[str]
    pareto: set[int]
    job_dirs: list[str]


def snapshot(cwd: Path, process: Completed, label: str) -> Snapshot:
    study = load_study(cwd, "top_k_lr")
    mlflow = tracked(cwd, "top_k_lr")
    parent = mlflow.parent.info.run_id
    return Snapshot(
        process=process,
        trials=study.get_trials(),
        directions=len(study.directions),
        mlflow=mlflow,
        artifacts={artifact.path for artifact in mlflow.client.list_artifacts(parent)},
        pareto=pareto_numbers(mlflow, cwd / "downloads" / label),
        job_dirs=sorted(path.name for path in (cwd / "sweeps" / "top_k_lr").glob("trial-*")),
    )


@dataclass(frozen=True)
class TopUp:
    first: Snapshot
    second: Snapshot
    old_files_before: dict[str, dict[str, tuple[int, str]]]
    old_files_after: dict[str, dict[str, tuple[int, str]]]


@pytest.fixture(scope="module")
def top_k_lr(tmp_path_factory: pytest.TempPathFactory) -> TopUp:
    cwd = tmp_path_factory.mktemp("top_k_lr")
    first = snapshot(cwd, ok(run_sweep(cwd, "hydra.sweeper.n_trials=3")), "first")
    old_dirs = [cwd / "sweeps" / "top_k_lr" / f"trial-{n:04d}" for n in range(3)]
    before = {d.name: file_states(d) for d in old_dirs}
    second = snapshot(cwd, ok(run_sweep(cwd, "hydra.sweeper.n_trials=5")), "second")
    after = {d.name: file_states(d) for d in old_dirs}
    return TopUp(first, second, before, after)


def test_default_sweep_runs_n_trials_and_mlflow_agrees_with_optuna(top_k_lr: TopUp) -> None:
    first = top_k_lr.first
    # n_trials=3: exactly 3 finished trials, all COMPLETE, nothing left RUNNING or WAITING.
    assert [trial.number for trial in first.trials] == [0, 1, 2]
    assert [trial.state for trial in first.trials] == [TrialState.COMPLETE] * 3
    assert first.directions == 1
    # The enqueued head-only and full-fine-tune baselines run first.
    assert [trial.params for trial in first.trials[:2]] == BASELINES
    # The default pruner waits out the first stage (1 epoch here) plus 3 fine-tuning epochs.
    pruner = first.trials[0].system_attrs[PRUNER_ATTR]
    assert pruner == {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 5,
        "n_warmup_steps": 1 + 3,
    }
    # Optuna and MLflow agree trial by trial (one parent; one child per trial; params, values).
    assert_optuna_and_mlflow_agree(first.trials, first.mlflow, "top_k_lr")
    # Each trial carries its run's page for optuna-dashboard, which shows user attrs.
    for trial in first.trials:
        run_id = first.mlflow.children[trial.number].info.run_id
        assert trial.user_attrs["mlflow_run_url"].startswith("http://127.0.0.1:5000/#/experiments/")
        # The query picks MLflow's model-training view (its GenAI view is the other default).
        assert trial.user_attrs["mlflow_run_url"].endswith(
            f"/runs/{run_id}?workflowType=machine_learning"
        )
    # The console's last line is the address of the comparison page on the parent run.
    last = first.process.stdout.strip().splitlines()[-1]
    assert last.startswith("comparison of all trials: http://127.0.0.1:5000/#/experiments/")
    assert first.mlflow.parent.info.run_id in last
    assert last.endswith("/artifacts/comparison.html?workflowType=machine_learning")
    # The parent run carries the study report.
    assert {"trials.csv", "pareto.csv", "pareto.png"} <= first.artifacts
    # Each child is tagged freezesweep.pareto, "true" exactly for the trials in pareto.csv.
    flags = {n: run.data.tags["freezesweep.pareto"] for n, run in first.mlflow.children.items()}
    assert set(flags.values()) <= {"true", "false"}
    assert {n for n, flag in flags.items() if flag == "true"} == first.pareto
    assert first.pareto  # a study with completed trials has a non-empty front
    # Job directories are named by trial number under sweeps/<study>/.
    assert first.job_dirs == ["trial-0000", "trial-0001", "trial-0002"]


def test_second_invocation_tops_up_to_the_study_total_without_overwriting(
    top_k_lr: TopUp,
) -> None:
    second = top_k_lr.second
    # n_trials is the study total: 3 then 5 gives exactly 5 finished trials numbered 0..4.
    assert [trial.number for trial in second.trials] == [0, 1, 2, 3, 4]
    assert all(trial.state in FINISHED for trial in second.trials)
    # The first invocation's trials are unchanged, and the baselines were not enqueued again.
    assert [(t.params, t.value) for t in second.trials[:3]] == [
        (t.params, t.value) for t in top_k_lr.first.trials
    ]
    assert all(trial.params not in BASELINES for trial in second.trials[2:])
    # Still one parent run (reused), now with 5 child runs that agree with Optuna.
    assert second.mlflow.parent.info.run_id == top_k_lr.first.mlflow.parent.info.run_id
    assert_optuna_and_mlflow_agree(second.trials, second.mlflow, "top_k_lr")
    # New job directories for the new trials only; the earlier ones were not touched.
    assert second.job_dirs == [f"trial-{n:04d}" for n in range(5)]
    assert top_k_lr.old_files_before["trial-0000"]  # .hydra/overrides.yaml and the audit
    assert ".hydra/overrides.yaml" in top_k_lr.old_files_before["trial-0000"]
    assert top_k_lr.old_files_after == top_k_lr.old_files_before
    # The report on the parent run was refreshed for all 5 trials.
    flags = {n: run.data.tags["freezesweep.pareto"] for n, run in second.mlflow.children.items()}
    assert {n for n, flag in flags.items() if flag == "true"} == second.pareto


# ---------------------------------------------------------------------------------------------
# Failures: a trial that raises inside fit, a trial whose val_accuracy is NaN, a good trial.

RAISE_TRIAL, NAN_TRIAL, GOOD_TRIAL = 0, 1, 2
# beta_1 is searched only so that the enqueued trials can pick it: "nope" makes Keras raise a
# TypeError inside fit (after the trial's MLflow run started), 0.9 is Adam's default.
BETA = "+schedule.stages.1.optimizer.beta_1"


@dataclass(frozen=True)
class Failures:
    process: Completed
    trials: list[FrozenTrial]
    mlflow: Tracked


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Failures:
    cwd = tmp_path_factory.mktemp("failures")
    wrapper = cwd / "nan_sweep.py"
    wrapper.write_text(NAN_WRAPPER.format(sweep=str(SWEEP), number=NAN_TRIAL))
    enqueue = (
        f"hydra.sweeper.enqueue=[{{{BETA}: nope, finetune.top_k: 1, finetune.lr: 0.001}}, "
        f"{{{BETA}: 0.9, finetune.top_k: 2, finetune.lr: 0.001}}, "
        f"{{{BETA}: 0.9, finetune.top_k: 1, finetune.lr: 0.001}}]"
    )
    process = ok(
        run_sweep(
            cwd,
            "hydra.sweeper.study_name=failures",
            "hydra.sweeper.n_trials=3",
            # 2 failures of 3 trials are within this budget (the default 0.5 would stop the sweep).
            "hydra.sweeper.max_failure_rate=0.7",
            f"{BETA}=0.9,nope",
            enqueue,
            script=wrapper,
        )
    )
    return Failures(process, load_study(cwd, "failures").get_trials(), tracked(cwd, "failures"))


def test_failures_raising_and_nan_trials_fail_and_the_sweep_completes(failures: Failures) -> None:
    # Exceptions and NaN results are trial failures, not sweep failures: exit 0.
    assert failures.process.returncode == 0
    states = {trial.number: trial.state for trial in failures.trials}
    assert states == {
        RAISE_TRIAL: TrialState.FAIL,
        NAN_TRIAL: TrialState.FAIL,
        GOOD_TRIAL: TrialState.COMPLETE,
    }
    # Each failure records its reason on the trial.
    reasons = {
        trial.number: trial.user_attrs.get(FAIL_REASON_ATTR, "") for trial in failures.trials
    }
    assert reasons[RAISE_TRIAL].startswith("TypeError"), reasons
    assert reasons[NAN_TRIAL] == "FloatingPointError: val_accuracy is nan", reasons
    # Every trial got a child run, and no run is left RUNNING.
    assert sorted(failures.mlflow.children) == [RAISE_TRIAL, NAN_TRIAL, GOOD_TRIAL]
    assert {run.info.status for run in failures.mlflow.runs} <= {"FINISHED", "FAILED", "KILLED"}
    # The trial that raised inside fit has its run FAILED, tagged FAIL with the error.
    raised = failures.mlflow.children[RAISE_TRIAL]
    assert raised.info.status == "FAILED"
    assert raised.data.tags["freezesweep.state"] == "FAIL"
    assert raised.data.tags["freezesweep.error"].startswith("TypeError")
    # The good trial after the failures completed normally.
    good = failures.mlflow.children[GOOD_TRIAL]
    assert good.info.status == "FINISHED"
    assert good.data.tags["freezesweep.state"] == "COMPLETE"


def test_failures_nan_trial_run_is_failed_in_mlflow(failures: Failures) -> None:
    # Optuna and MLflow agree on the final state: a NaN trial is FAIL in both, its run FAILED
    # (the NaN check must run inside the trial's MLflow run, not after it ended FINISHED).
    nan_run = failures.mlflow.children[NAN_TRIAL]
    assert nan_run.data.tags["freezesweep.state"] == "FAIL"
    assert nan_run.info.status == "FAILED"
    assert nan_run.data.tags["freezesweep.error"] == "FloatingPointError: val_accuracy is nan"


# ---------------------------------------------------------------------------------------------


def test_pruned_trial_is_killed_in_mlflow_with_fewer_epochs_logged(tmp_path: Path) -> None:
    # A threshold pruner from the first fine-tuning epoch (step 1) on: the head-only baseline
    # stays at ~0.33 and completes; a diverging LR (1e6: NaN weights, every image one class,
    # accuracy 0.2) is pruned at step 1.
    ok(
        run_sweep(
            tmp_path,
            "hydra.sweeper.study_name=pruning",
            "hydra.sweeper.n_trials=2",
            # The pruner group replaces the sweep file's median_after_head option outright.
            "hydra/sweeper/pruner=threshold",
            "hydra.sweeper.pruner.lower=0.25",
            "hydra.sweeper.pruner.n_warmup_steps=1",
            # The command line replaces the sweep file's LR range, so the enqueued 1e6 fits.
            "finetune.lr=tag(log, interval(1e-5, 1e6))",
            "hydra.sweeper.enqueue=[{finetune.top_k: 0, finetune.lr: 3.0e-4}, "
            "{finetune.top_k: 4, finetune.lr: 1.0e6}]",
        )
    )
    complete, pruned = load_study(tmp_path, "pruning").get_trials()
    mlflow = tracked(tmp_path, "pruning")

    # Optuna: the bad trial is PRUNED after reporting steps 0 and 1; the good one reported all.
    assert complete.state == TrialState.COMPLETE
    assert sorted(complete.intermediate_values) == list(range(EPOCHS))
    assert pruned.state == TrialState.PRUNED
    assert sorted(pruned.intermediate_values) == [0, 1]
    # Trainable params were recorded on the trial before it trained, pruned or not.
    assert pruned.user_attrs["trainable_params"] > complete.user_attrs["trainable_params"] > 0

    # MLflow: the pruned trial's run is KILLED and tagged PRUNED; the complete one FINISHED.
    complete_run, pruned_run = mlflow.children[complete.number], mlflow.children[pruned.number]
    assert complete_run.info.status == "FINISHED"
    assert complete_run.data.tags["freezesweep.state"] == "COMPLETE"
    assert pruned_run.info.status == "KILLED"
    assert pruned_run.data.tags["freezesweep.state"] == "PRUNED"
    # A pruned trial stops at once: fewer epochs logged than the full trial (per-epoch
    # `epoch_loss` at steps 0, 1 against 0, 1, 2); the final val_accuracy is logged once.
    assert metric_steps(mlflow, complete_run, "epoch_loss") == list(range(EPOCHS))
    assert metric_steps(mlflow, pruned_run, "epoch_loss") == [0, 1]
    assert metric_steps(mlflow, pruned_run, "val_accuracy") == [0]
    # The pruned run's val_accuracy is the last value it reported, and says so.
    assert pruned_run.data.metrics["val_accuracy"] == pytest.approx(pruned.intermediate_values[1])
    assert pruned_run.data.tags["freezesweep.value"] == "last reported (pruned at epoch 1)"
    assert complete_run.data.tags["freezesweep.value"] == "final"
    # trials.csv: the pruned row carries that value at its step, and each row its run id.
    with (tmp_path / "sweeps" / "pruning" / "report" / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[1]["val_accuracy"]) == pytest.approx(pruned.intermediate_values[1])
    assert rows[1]["state"] == "PRUNED" and rows[1]["pruned_at_step"] == "1"
    assert [row["run_id"] for row in rows] == [complete_run.info.run_id, pruned_run.info.run_id]


def test_pareto_csv_is_the_non_dominated_set_of_mlflow_runs(tmp_path: Path) -> None:
    ok(run_sweep(tmp_path, "sweep=pareto", "hydra.sweeper.n_trials=4"))
    study = load_study(tmp_path, "pareto")
    mlflow = tracked(tmp_path, "pareto")
    # A two-objective study (maximize val_accuracy, minimize trainable_params), 4 trials.
    assert len(study.directions) == 2
    assert [trial.state for trial in study.get_trials()] == [TrialState.COMPLETE] * 4
    assert sorted(mlflow.children) == [0, 1, 2, 3]
    # The front computed here from MLflow's runs alone equals the parent's pareto.csv.
    points = {
        number: (run.data.metrics["val_accuracy"], run.data.metrics["trainable_params"])
        for number, run in mlflow.children.items()
        if run.data.tags["freezesweep.state"] == "COMPLETE"
    }
    assert len(points) == 4
    front = non_dominated(points)
    assert front == pareto_numbers(mlflow, tmp_path / "downloads")
    # And the Pareto runs, only they, are tagged freezesweep.pareto=true.
    tagged = {
        n for n, run in mlflow.children.items() if run.data.tags["freezesweep.pareto"] == "true"
    }
    assert tagged == front


def test_pruner_on_a_pareto_sweep_is_a_config_error_before_any_store_exists(
    tmp_path: Path,
) -> None:
    process = run_sweep(
        tmp_path, "sweep=pareto", "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner}"
    )
    # A pruner on a multi-objective study: non-zero exit, a message naming the key.
    assert process.returncode != 0
    assert "hydra.sweeper.pruner" in process.stderr
    # One clear line, not a traceback.
    assert "Traceback" not in process.stderr
    assert any(line.startswith("hydra.sweeper.pruner: ") for line in process.stderr.splitlines())
    # Rejected before anything was created: no study database, no MLflow store.
    assert not (tmp_path / "sweeps" / "optuna.db").exists()
    assert not (tmp_path / "mlruns").exists()


def test_submitit_local_runs_real_trials_as_parallel_jobs_in_one_study(tmp_path: Path) -> None:
    # hydra/launcher=submitit_local on the journal storage: the two baselines train at the same
    # time in two job processes, and land in one study and one MLflow experiment.
    ok(
        run_sweep(
            tmp_path,
            "hydra/launcher=submitit_local",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.storage=journal:sweeps/optuna.log",
            "hydra.sweeper.study_name=submitit",
        )
    )
    study = optuna.load_study(
        study_name="submitit", storage=open_storage(f"journal:{tmp_path}/sweeps/optuna.log")
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert [t.params for t in study.trials] == BASELINES
    logs = sorted((tmp_path / "sweeps" / "submitit" / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2  # one submitit job per trial
    client = mlflow_client(tmp_path)
    experiment = client.get_experiment_by_name("submitit")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id])
    children = sorted(r.info.run_name for r in found if "freezesweep.trial" in r.data.tags)
    assert children == ["trial-0000", "trial-0001"]
    assert all(r.info.status == "FINISHED" for r in found)
    values = {
        r.info.run_name: r.data.metrics["val_accuracy"]
        for r in found
        if r.info.run_name in children
    }
    assert values == {f"trial-{t.number:04d}": pytest.approx(t.value) for t in study.trials}
