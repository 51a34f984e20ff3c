"""Sweep reports: the Pareto set, the trial table and the files written from a study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from freezesweep.study.report import pareto_mask, trials_frame, write_report


def test_pareto_mask_keeps_only_non_dominated_points() -> None:
    accuracy = np.array([0.70, 0.83, 0.80, 0.85, 0.85, 0.60])
    params = np.array([325, 74_053, 129_349, 145_621, 150_000, 325])
    # Dominated: 0.80 (fewer params and more accuracy exist), the 150k tie, and 0.60 at 325.
    assert pareto_mask(accuracy, params).tolist() == [True, True, False, True, False, False]


def test_identical_points_are_both_kept() -> None:
    # Neither of two identical trials dominates the other.
    assert pareto_mask(np.array([0.9, 0.9]), np.array([10, 10])).tolist() == [True, True]


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for top_k, accuracy, params in [(0, 0.70, 325), (1, 0.83, 74_053), (2, 0.80, 129_349)]:
        study.add_trial(
            optuna.trial.create_trial(
                params={"finetune.top_k": top_k},
                distributions={"finetune.top_k": optuna.distributions.IntDistribution(0, 4)},
                value=accuracy,
                user_attrs={"trainable_params": params},
            )
        )
    failed = study.ask()
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    return study


def test_report_files_from_a_study(tmp_path: Path) -> None:
    study = _study()
    files = write_report(study, tmp_path)
    table = pd.read_csv(files["trials.csv"])
    # Every trial is a row, failed ones included, with its trainable params.
    assert table["state"].tolist() == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]
    assert table["trainable_params"].tolist()[:3] == [325, 74_053, 129_349]
    # The Pareto CSV holds the non-dominated completed trials, fewest parameters first.
    assert pd.read_csv(files["pareto.csv"])["number"].tolist() == [0, 1]
    # The plot is a real PNG.
    assert files["pareto.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(trials_frame(study)) == 4


def test_report_command_rebuilds_files_from_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep.cli import main

    storage = f"sqlite:///{tmp_path}/optuna.db"
    source = _study()
    stored = optuna.create_study(study_name="demo", storage=storage, direction="maximize")
    stored.add_trials(source.get_trials())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # `freezesweep report` needs only the storage: table, Pareto set and plot, no MLflow store.
    assert main(["report", "--study", "demo", "--storage", storage]) == 0
    output = capsys.readouterr().out
    assert "Pareto set, val_accuracy vs trainable_params (2 trials):" in output
    assert (tmp_path / "sweeps" / "demo" / "report" / "pareto.png").is_file()
    assert not (tmp_path / "mlruns").exists()
    # An unknown study is one clear error, exit code 2.
    assert main(["report", "--study", "nope", "--storage", storage]) == 2


def test_pareto_csv_and_plot_mark_each_trials_method(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    choices = optuna.distributions.CategoricalDistribution(["unfreeze", "lora", "bitfit"])
    for method, accuracy, params in [
        ("unfreeze", 0.90, 129_349),
        ("lora", 0.86, 4_869),
        ("bitfit", 0.80, 581),
        ("bitfit", 0.70, 600),
    ]:
        study.add_trial(
            optuna.trial.create_trial(
                params={"finetune.method": method},
                distributions={"finetune.method": choices},
                values=[accuracy, params],
                user_attrs={"trainable_params": params, "method": method},
            )
        )
    # A trial from before methods existed (no param, no attr) unfroze whole units.
    study.add_trial(
        optuna.trial.create_trial(values=[0.5, 325], user_attrs={"trainable_params": 325})
    )
    files = write_report(study, tmp_path)
    # pareto.csv names each point's method; the dominated bitfit trial is left out.
    pareto = pd.read_csv(files["pareto.csv"])
    assert pareto["method"].tolist() == ["unfreeze", "bitfit", "lora", "unfreeze"]
    assert pd.read_csv(files["trials.csv"])["method"].tolist()[-1] == "unfreeze"
    assert files["pareto.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _readme_study() -> optuna.Study:
    """The README's default sweep, in short: close depths 2/3/4, one diverged and one pruned
    trial, one failure."""
    study = optuna.create_study(direction="maximize")
    depth = {"finetune.top_k": optuna.distributions.IntDistribution(0, 4)}
    for top_k, accuracy, params in [
        (0, 0.7042, 325),
        (4, 0.8775, 145_621),
        (3, 0.2, 143_173),  # diverged
        (1, 0.8571, 74_053),
        (2, 0.8608, 129_349),
        (3, 0.8662, 143_173),
        (4, 0.8683, 145_621),
    ]:
        study.add_trial(
            optuna.trial.create_trial(
                params={"finetune.top_k": top_k},
                distributions=depth,
                value=accuracy,
                user_attrs={"trainable_params": params, "mlflow_run_id": f"run{top_k}"},
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"finetune.top_k": 2},
            distributions=depth,
            state=optuna.trial.TrialState.PRUNED,
            intermediate_values={13: 0.61, 15: 0.7296},
            user_attrs={"trainable_params": 129_349},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            params={"finetune.top_k": 1},
            distributions=depth,
            state=optuna.trial.TrialState.FAIL,
            user_attrs={"trainable_params": 74_053},
        )
    )
    return study


def test_trials_csv_has_run_ids_and_pruned_trials_last_values(tmp_path: Path) -> None:
    table = pd.read_csv(write_report(_readme_study(), tmp_path)["trials.csv"])
    # Each trial's MLflow run id is a column (empty where the trial recorded none).
    assert table["run_id"].tolist()[:2] == ["run0", "run4"]
    assert table["run_id"].isna().tolist()[-2:] == [True, True]
    # A pruned row carries the last value it reported, labelled by its state and step.
    pruned = table[table["state"] == "PRUNED"].iloc[0]
    assert pruned["val_accuracy"] == 0.7296
    assert pruned["pruned_at_step"] == 15
    assert table[table["state"] == "COMPLETE"]["pruned_at_step"].isna().all()
    # A pruned trial is never on the front.
    assert 7 not in pd.read_csv(tmp_path / "pareto.csv")["number"].tolist()


def test_pareto_plot_fits_the_front_and_keeps_labels_apart() -> None:
    from freezesweep.study.pareto_plot import CHAR_WIDTH, LABEL_ROW, layout, overlap
    from freezesweep.study.report import pareto_table

    table = trials_frame(_readme_study())
    plan = layout(table, pareto_table(table))
    low, high = plan.y_limits
    # The y range is fitted to the front (0.70 .. 0.88): the diverged 0.2 does not stretch it.
    assert 0.6 < low < 0.7042 and 0.8775 < high <= 1.02
    # The diverged trial is clipped to the bottom edge, and its label says its value.
    assert plan.clipped == (2,)
    texts = [label.text for label in plan.labels]
    assert "k=3 (0.20)" in texts and "k=1 (failed)" in texts
    # One label per depth: k=4's three trials share one.
    assert texts.count("k=4") == 1
    # The legend names states, not just the method; pruned and failed trials are their own.
    legends = [series.legend for series in plan.series]
    assert legends == [
        "completed, method unfreeze",
        "pruned (last reported value)",
        "failed, or diverged below the axis",
    ]
    # No two labels overlap: close depths (k=2/3/4 within 0.05 decades) are stacked, and the
    # long labels on the bottom edge too.
    left, width = np.log10(325), np.log10(145_621) - np.log10(325)
    boxes = [
        (
            (np.log10(label.x) - left) / width,
            (label.y - low) / (high - low) + label.row * LABEL_ROW,
            (len(label.text) + 1) * CHAR_WIDTH,
        )
        for label in plan.labels
    ]
    for index, one in enumerate(boxes):
        assert not any(overlap(one, other) for other in boxes[index + 1 :]), plan.labels


def test_published_trials_csv_finds_the_run_ids_of_replayed_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from freezesweep.spec import TrackingSpec
    from freezesweep.study.report import publish

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    spec = TrackingSpec(True, uri, str(tmp_path / "mlruns" / "artifacts"), "toy")
    study = optuna.create_study(study_name="toy", direction="maximize")
    for number, accuracy in enumerate([0.7, 0.8]):
        attrs = {"trainable_params": 325 + number}
        if number == 0:
            attrs["mlflow_run_id"] = "recorded"
        study.add_trial(optuna.trial.create_trial(value=accuracy, user_attrs=attrs))
    # Trial 1's run was spooled and replayed: the trial never learned its id, MLflow has it.
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("toy", artifact_location=str(tmp_path / "art"))
    tags = {"freezesweep.study": "toy", "freezesweep.trial": "1"}
    replayed = client.create_run(experiment, tags=tags).info.run_id
    publish(study, tmp_path / "report", spec, end_parent=False)
    table = pd.read_csv(tmp_path / "report" / "trials.csv")
    # The recorded id is kept; the missing one is found by the run's trial tag.
    assert table["run_id"].tolist() == ["recorded", replayed]
