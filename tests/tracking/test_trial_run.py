"""A trial's MLflow run: per-epoch metrics deferred and sent together, never lost."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from freezesweep.spec import TrackingSpec
from freezesweep.tracking import client_for, trial_run


def store(tmp_path: Path, flush_s: float) -> TrackingSpec:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    return TrackingSpec(True, uri, str(tmp_path / "mlruns" / "artifacts"), "toy", flush_s)


def steps(spec: TrackingSpec, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client_for(spec).get_metric_history(run_id, key))


def count_batches(monkeypatch: pytest.MonkeyPatch, run: Any) -> list[int]:
    """The number of metrics in each `log_batch` call the run makes from now on."""
    sizes: list[int] = []
    log_batch = run.client.log_batch

    def counted(run_id: str, metrics: Any = (), **kwargs: Any) -> Any:
        if metrics:
            sizes.append(len(metrics))
        return log_batch(run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(run.client, "log_batch", counted)
    return sizes


def test_deferred_epochs_go_in_one_call_with_the_stage_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = store(tmp_path, flush_s=3600)
    with trial_run(spec, run_name="trial", experiment="toy") as run:
        sizes = count_batches(monkeypatch, run)
        for epoch in range(3):
            run.log_metrics({"loss": 1.0 / (epoch + 1), "val_accuracy": 0.5}, epoch, defer=True)
        # Nothing sent yet: the epochs wait for the next send.
        assert steps(spec, str(run.run_id), "loss") == []
        run.log_metrics({"stage_val_accuracy": 0.5}, step=0)
        # Each epoch point at its own step, all in one call.
        assert steps(spec, str(run.run_id), "loss") == [0, 1, 2]
        assert steps(spec, str(run.run_id), "stage_val_accuracy") == [0]
        assert sizes == [7]


def test_epochs_still_waiting_are_sent_when_a_failing_run_ends(tmp_path: Path) -> None:
    spec = store(tmp_path, flush_s=3600)
    with pytest.raises(RuntimeError), trial_run(spec, run_name="trial", experiment="toy") as run:
        run.log_metrics({"loss": 0.9}, step=0, defer=True)
        run.log_metrics({"loss": 0.8}, step=1, defer=True)
        raise RuntimeError("out of luck")
    finished = client_for(spec).get_run(str(run.run_id))
    assert finished.info.status == "FAILED"
    assert steps(spec, str(run.run_id), "loss") == [0, 1]


def test_a_flush_interval_of_zero_sends_every_epoch_as_it_ends(tmp_path: Path) -> None:
    spec = store(tmp_path, flush_s=0)
    with trial_run(spec, run_name="trial", experiment="toy") as run:
        for epoch in range(2):
            run.log_metrics({"loss": 0.5}, step=epoch, defer=True)
            assert steps(spec, str(run.run_id), "loss") == list(range(epoch + 1))


def test_an_epoch_after_the_interval_sends_those_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = store(tmp_path, flush_s=5)
    now = [100.0]  # the run starts at 100 s; its epochs end at 101 s and 106 s
    clock = SimpleNamespace(time=time.time, monotonic=lambda: now[0])
    monkeypatch.setattr("freezesweep.tracking._trial_run.time", clock)
    with trial_run(spec, run_name="trial", experiment="toy") as run:
        now[0] = 101.0
        run.log_metrics({"loss": 0.9}, step=0, defer=True)
        assert steps(spec, str(run.run_id), "loss") == []
        now[0] = 106.0
        run.log_metrics({"loss": 0.8}, step=1, defer=True)
        assert steps(spec, str(run.run_id), "loss") == [0, 1]
