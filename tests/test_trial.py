"""A whole trial in-process: the run lands in MLflow with the contract's params and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from freezesweep.errors import ConfigError
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run


def _client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")


def test_trial_is_logged_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    value = run_trial(compose_config(tmp_path, "finetune.top_k=1"))
    client = _client(tmp_path)
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # The run ended FINISHED and is tagged COMPLETE.
    assert run.info.status == "FINISHED"
    assert run.data.tags["freezesweep.state"] == "COMPLETE"
    # The value returned to the sweeper is exactly the logged val_accuracy.
    assert run.data.metrics["val_accuracy"] == pytest.approx(value)
    # Trainable params is a metric (so MLflow charts can use it), equal to one block + head.
    assert run.data.metrics["trainable_params"] == 73728 + 325
    assert run.data.metrics["non_trainable_params"] + run.data.metrics["trainable_params"] == 147029
    assert run.data.metrics["trainable_fraction"] == pytest.approx((73728 + 325) / 147029)
    assert run.data.metrics["train_seconds"] > 0
    # Flattened resolved config as params, and stage settings prefixed by stage.
    assert run.data.params["finetune.top_k"] == "1"
    assert run.data.params["schedule.stages.1.name"] == "finetune"
    assert run.data.params["stage1.finetune.units"] == "block4"
    assert run.data.params["stage0.head.learning_rate"] == "0.01"
    # Per-epoch metrics (Keras's names after `epoch_`) with step = cumulative epoch across
    # stages (2 stages of 1 epoch); per-stage metrics: one point per stage.
    for key in ("epoch_loss", "epoch_accuracy", "epoch_val_loss", "epoch_val_accuracy"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [0, 1]
    for key in ("stage_val_accuracy", "stage_trainable_params"):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == [0, 1]
    # Artifacts: resolved config, freeze audit, one model summary per stage.
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "freeze_audit.json", "model_summary"} <= artifacts
    audit_file = client.download_artifacts(run.info.run_id, "freeze_audit.json", str(tmp_path))
    audit = json.loads(Path(audit_file).read_text())
    assert audit["passed"] is True
    assert [stage["actual_trainable"] for stage in audit["stages"]] == [325, 73728 + 325]
    summaries = client.list_artifacts(run.info.run_id, "model_summary")
    assert [item.path for item in summaries] == [
        "model_summary/stage0_head.txt",
        "model_summary/stage1_finetune.txt",
    ]


def test_same_seed_gives_the_same_accuracy(tmp_path: Path) -> None:
    # Reproducibility: two trials with one seed give one validation accuracy.
    first = run_trial(compose_config(tmp_path, "tracking.enabled=false"))
    second = run_trial(compose_config(tmp_path, "tracking.enabled=false"))
    assert first == second


def test_pareto_objectives_return_accuracy_and_params(tmp_path: Path) -> None:
    values = run_trial(
        compose_config(
            tmp_path,
            "tracking.enabled=false",
            "finetune.top_k=0",
            "objectives=[val_accuracy,trainable_params]",
        )
    )
    # A Pareto sweep gets (val_accuracy, trainable_params); depth 0 trains the head only.
    assert isinstance(values, tuple)
    assert values[1] == 325.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "finetune.top_k=5",
            "finetune.top_k must be between 0 and 4 (the backbone has 4 block units); got 5.",
        ),
        (
            "schedule.stages.1.unfreeze=nope_*",
            "schedule.stages.1.unfreeze: pattern 'nope_*' matches no weight-bearing layer of "
            "backbone 'digits_backbone'.",
        ),
        (
            "backbone.sha256=0000",
            "backbone.sha256 does not match",
        ),
        (
            "+schedule.stages.1.optimizer._target_=keras.optimizers.Nope",
            "stage 'finetune': optimizer._target_ 'keras.optimizers.Nope' cannot be imported.",
        ),
    ],
)
def test_bad_input_creates_no_run(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, override))
    assert str(caught.value).startswith(message)
    # Nothing was tracked: the MLflow store was never even created.
    assert not (tmp_path / "mlruns").exists()


def test_backbone_file_problems_fail_before_tracking(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.keras"
    corrupt.write_bytes(b"not a zip archive")
    legacy = tmp_path / "old.h5"
    legacy.write_bytes(b"\x89HDF")
    cases = {
        str(tmp_path / "missing.keras"): "backbone.path: file not found:",
        str(corrupt): "backbone.path: ",
        str(legacy): "backbone.path must be a .keras file",
    }
    for path, message in cases.items():
        with pytest.raises(ConfigError) as caught:
            run_trial(compose_config(tmp_path, "backbone=file", f"backbone.path={path}"))
        # Each backbone problem names backbone.path, and nothing reached MLflow.
        assert str(caught.value).startswith(message)
        assert not (tmp_path / "mlruns").exists()


def test_in_process_trials_leave_no_traced_graph_alive(tmp_path: Path) -> None:
    # TensorFlow's global gradient registry kept every traced train step (and its graph) of a
    # finished trial reachable: about 25 MiB per trial of a sweep's process (bench P6).
    import gc

    def live_graphs() -> int:
        gc.collect()
        return sum(type(o).__name__.endswith("FuncGraph") for o in gc.get_objects())

    overrides = ("tracking.enabled=false", "finetune.top_k=1")
    run_trial(compose_config(tmp_path, *overrides, "seed=1"))
    after_first = live_graphs()
    for seed in (2, 3):
        run_trial(compose_config(tmp_path, *overrides, f"seed={seed}"))
    assert live_graphs() == after_first
