"""End to end at small size: the real `python sweep.py -m` on sweeps/window_lr.yaml (a budget)
and sweeps/surgical.yaml (every single-block window), read back from Optuna, MLflow and the
report; and bad budgets or corruptions stopping everything in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from optuna.trial import TrialState

from freezesweep.study.attributes import PRUNE_REASON_ATTR
from tests.sweeps.test_app import _sweep as run_single
from tests.sweeps.test_real import load_study, mlflow_client, ok, run_sweep

pytestmark = pytest.mark.slow

# Top block alone: 73,728 parameters (+ the 325 of the head): a budget of 60,000 rules out every
# window that holds it.
BUDGET = 60000


def _child_runs(cwd: Path, study: str) -> dict[str, str]:
    client = mlflow_client(cwd)
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return {
        run.data.tags["freezesweep.trial"]: run.info.status
        for run in runs
        if "freezesweep.trial" in run.data.tags
    }


def test_window_lr_sweep_keeps_the_budget_without_training_over_budget_trials(
    tmp_path: Path,
) -> None:
    process = ok(
        run_sweep(
            tmp_path,
            "sweep=window_lr",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.pruner=null",
            "schedule.stages.1.epochs=1",
            # The top block alone, first: over budget whatever the sampler draws next.
            "hydra.sweeper.enqueue=[{finetune.top_k: 1, finetune.offset: 0, finetune.lr: 1e-3, "
            "finetune.lr_decay: 1.0}]",
        )
    )
    study = load_study(tmp_path, "window_lr")
    trials = study.trials
    assert len(trials) == 4
    over = [t for t in trials if t.user_attrs.get("trainable_params", 0) > BUDGET]
    assert trials[0] in over
    within = [t for t in trials if t not in over]
    # Every window fits the backbone (the offset is drawn after top_k): nothing failed.
    assert all(t.state != TrialState.FAIL for t in trials), [t.user_attrs for t in trials]
    assert all(t.params["finetune.top_k"] + t.params["finetune.offset"] <= 4 for t in trials)
    # Over budget: PRUNED, the reason recorded, Optuna's constraint positive, no MLflow run.
    assert all(t.state == TrialState.PRUNED for t in over)
    assert all(t.user_attrs[PRUNE_REASON_ATTR] == "over budget" for t in over)
    assert all(t.constraints["trainable_params"] > 0 for t in over)
    runs = _child_runs(tmp_path, "window_lr")
    assert not {str(t.number) for t in over} & set(runs)
    # Within budget: trained, feasible, one finished run each.
    assert all(t.state == TrialState.COMPLETE for t in within)
    assert all(t.constraints["trainable_params"] <= 0 for t in within)
    assert {str(t.number): "FINISHED" for t in within} == runs
    # The console says why; the report marks feasibility.
    lines = (process.stdout + process.stderr).splitlines()
    assert any(" PRUNED " in line and "reason=over budget" in line for line in lines)
    with (tmp_path / "sweeps" / "window_lr" / "report" / "trials.csv").open() as table:
        rows = {int(row["number"]): row for row in csv.DictReader(table)}
    assert {n: row["feasible"] for n, row in rows.items()} == {
        t.number: str(t not in over) for t in trials
    }


def test_surgical_sweep_trains_one_block_per_trial_on_corrupted_digits(tmp_path: Path) -> None:
    ok(
        run_sweep(
            tmp_path,
            "sweep=surgical",
            "data=digits_corrupted",
            "data.corruption=invert",
            "data.train_per_class=5",
            # A fixed LR on the command line replaces the sweep's LR choice: 4 trials.
            "finetune.lr=1e-3",
            "hydra.sweeper.n_trials=4",
        )
    )
    study = load_study(tmp_path, "surgical")
    # Every single-block window once: offsets 0-3, one unit each.
    assert sorted(t.params["finetune.offset"] for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    counts = {t.params["finetune.offset"]: t.user_attrs["trainable_params"] for t in study.trials}
    # One block + the head; the top block is the biggest, the lowest the smallest.
    assert counts[0] == 73728 + 325
    assert counts[0] > counts[1] > counts[2] > counts[3] > 325


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["hydra.sweeper.constraints={trainable_params: -5}"],
            "hydra.sweeper.constraints.trainable_params must be a positive integer; got -5.",
        ),
        (
            ["hydra.sweeper.constraints={flops: 5}"],
            "hydra.sweeper.constraints.flops: unknown metric; a budget may name "
            "trainable_params (known before training).",
        ),
        (
            ["data=digits_corrupted", "data.corruption=fog"],
            "data.corruption must be one of gaussian_noise, blur, invert, contrast; got 'fog'.",
        ),
    ],
)
def test_bad_budget_or_corruption_stops_the_sweep_in_one_line(
    tmp_path: Path, overrides: list[str], line: str
) -> None:
    process = run_sweep(tmp_path, *overrides)
    # One line naming the key (exit 1, as every sweep config error), nothing created.
    assert process.returncode == 1
    assert line in process.stderr.splitlines()
    assert "Traceback" not in process.stderr
    assert not (tmp_path / "sweeps").exists()
    assert not (tmp_path / "mlruns").exists()


def test_bad_corruption_in_a_single_run_exits_2_in_one_line(tmp_path: Path) -> None:
    process = run_single(tmp_path, "data=digits_corrupted", "data.corruption=fog")
    # A single run: exit code 2, the one line of every bad value, no store, no training.
    assert process.returncode == 2
    assert process.stderr.strip().splitlines()[-1] == (
        "error: data.corruption must be one of gaussian_noise, blur, invert, contrast; got 'fog'."
    )
    assert not (tmp_path / "mlruns").exists()
