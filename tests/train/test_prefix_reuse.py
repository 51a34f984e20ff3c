"""Tests for stage-prefix reuse: a trial restores the stages an earlier trial already trained."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.runtime import seed_everything
from freezesweep.spec import StageSpec
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config
from tests.train.test_schedule import digits_plans, random_rows

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

HEAD = StageSpec(name="head", unfreeze="none", epochs=2, learning_rate=1e-2)


class EndRecorder(keras.callbacks.Callback):
    """Records the epochs whose end a callback saw (what tracking and the pruner act on)."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.ended.append(epoch)


def _train(
    top_k: int, cache: ArrayStore, callbacks: list[keras.callbacks.Callback] | None = None
) -> tuple[ScheduleResult, dict[str, np.ndarray]]:
    seed_everything(0)
    finetune = StageSpec(name="finetune", unfreeze=top_k, epochs=1, learning_rate=1e-3)
    model, backbone, plans = digits_plans(HEAD, finetune)
    result = run_schedule(
        model,
        backbone,
        plans,
        random_rows(rows=32),
        batch_size=8,
        verbose=0,
        cache=cache,
        seed=0,
        callbacks=callbacks or (),
    )
    weights = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.variables}
    return result, weights


def test_a_reused_prefix_continues_exactly_as_a_retrained_one() -> None:
    store = ArrayStore()
    _train(1, store)
    recorder = EndRecorder()
    reused, reused_weights = _train(2, store, [recorder])
    retrained, retrained_weights = _train(2, ArrayStore())

    # The head stage was restored, and its epochs still reached the callbacks (tracking, pruner).
    assert [stage.feature_cache for stage in reused.stages] == ["reused", "miss"]
    assert recorder.ended == [0, 1, 2]
    assert retrained.stages[0].feature_cache == "miss"
    assert reused.stages[0].history == retrained.stages[0].history
    assert reused.stages[0].first_epoch == 0 and reused.stages[1].first_epoch == 2
    # The restored stage was audited like a trained one.
    assert reused.audits[0].passed
    assert reused.audits[0].digests_after == retrained.audits[0].digests_after
    if keras.backend.backend() == "tensorflow":
        # Op determinism is on: every variable is bit-identical to retraining.
        assert reused_weights.keys() == retrained_weights.keys()
        for path, value in retrained_weights.items():
            assert np.array_equal(reused_weights[path], value), path
        assert reused.val_accuracy == retrained.val_accuracy


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_the_trial_run_keeps_the_reused_epochs_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_trial(compose_config(tmp_path, "finetune.top_k=1"))
    run_trial(compose_config(tmp_path, "finetune.top_k=2"))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    first, second = sorted(
        client.search_runs([experiment.experiment_id]), key=lambda run: run.info.start_time
    )
    # The first trial trained everything on freshly computed features.
    assert first.data.tags["freezesweep.feature_cache"] == "miss"
    assert first.data.tags["freezesweep.reused_prefix"] == "none"
    # The second restored the head stage and computed the top-2 features anew.
    assert second.data.tags["freezesweep.reused_prefix"] == "head"
    assert second.data.tags["freezesweep.feature_cache"] == "miss"
    # Its run still holds the copied per-epoch metrics of the head stage, at their steps.
    steps = [m.step for m in client.get_metric_history(second.info.run_id, "epoch_val_accuracy")]
    assert sorted(steps)[:2] == [0, 1]
    head = client.get_metric_history(first.info.run_id, "epoch_val_accuracy")
    copied = client.get_metric_history(second.info.run_id, "epoch_val_accuracy")
    assert [m.value for m in head if m.step == 0] == [m.value for m in copied if m.step == 0]


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_feature_cache_off_trains_every_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ("tracking.enabled=false", "trainer.feature_cache=off")
    first = run_trial(compose_config(tmp_path, *config))
    second = run_trial(compose_config(tmp_path, *config))
    # Nothing is cached or reused with the cache off: each trial says so and trains in full.
    lines = [line for line in capsys.readouterr().out.splitlines() if "feature cache" in line]
    assert lines == ["feature cache: off: trainer.feature_cache=off"] * 2
    assert first == second


def test_a_sweep_keeps_its_cache_on_disk_for_other_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezesweep.train.store import clear_shared_stores

    config = compose_config(tmp_path, "tracking.enabled=false", "trial.study_name=demo")
    first = run_trial(config, output_dir=tmp_path / "demo" / "trial-0000")
    # Entries land in the study's folder: sweeps/<study>/cache/ (features and stage prefixes).
    names = sorted(path.name for path in (tmp_path / "demo" / "cache").iterdir())
    assert any(name.startswith("features-") for name in names)
    assert any(name.startswith("prefix-") for name in names)
    assert not any(name.endswith(".partial") for name in names)
    # Another process (an empty memory tier) restores both stages from disk, same value.
    clear_shared_stores()
    capsys.readouterr()
    second = run_trial(config, output_dir=tmp_path / "demo" / "trial-0001")
    assert second == first
    assert "feature cache: hit" in capsys.readouterr().out.splitlines()
