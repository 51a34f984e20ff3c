"""One way to build a trial: `prepare_trial` and the training-free `check_trial`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import freezesweep.data.load
from freezesweep import runtime
from freezesweep.errors import ConfigError
from freezesweep.freeze import count_params
from freezesweep.model.assemble import build_backbone
from freezesweep.prepare import check_trial, prepare_trial
from freezesweep.spec import BackboneSpec
from freezesweep.spec.read import trial_spec
from tests.helpers.shrink import compose_config


def test_a_prepared_trial_is_built_and_planned_untrained(tmp_path: Path) -> None:
    spec = trial_spec(compose_config(tmp_path, "finetune.top_k=1"), environment={})
    runtime.seed_everything(spec.seed)
    trial = prepare_trial(spec)
    # One plan per stage of the default two-stage schedule, the head sized to the data.
    assert [plan.stage.name for plan in trial.plans] == ["head", "finetune"]
    assert trial.model.output_shape[-1] == trial.data.num_classes
    # The trial's trainable count is its largest stage's, known before any step.
    assert trial.trainable_params == max(plan.trainable_params for plan in trial.plans)
    assert trial.total_params == count_params(trial.model.weights)


def test_check_trial_refuses_a_depth_without_reading_data(tmp_path: Path) -> None:
    spec = trial_spec(compose_config(tmp_path, "finetune.top_k=99"), environment={})
    built: dict[BackboneSpec, keras.Model] = {}
    # The depth is checked against the backbone alone; the backbone is kept for the next spec.
    with pytest.raises(ConfigError, match=r"finetune\.top_k"):
        check_trial(spec, backbones=built)
    assert list(built) == [spec.backbone]
    assert built[spec.backbone].name == build_backbone(spec)[0].name


def test_check_trial_reads_each_data_setting_once_and_refuses_bad_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.npz"
    x = np.zeros((3, 28, 28), "float32")
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2]), x_val=x, y_val=np.array([0, 1, 3]))
    reads: list[str] = []
    real_load = freezesweep.data.load.load_npz
    monkeypatch.setattr(
        freezesweep.data.load, "load_npz", lambda file: reads.append(file) or real_load(file)
    )
    built: dict[BackboneSpec, keras.Model] = {}
    checked: set[tuple[object, ...]] = set()
    for top_k in (1, 2):
        spec = trial_spec(
            compose_config(tmp_path, "data=npz", f"data.path={path}", f"finetune.top_k={top_k}"),
            environment={},
        )
        # A label only validation has (3 in a 3-class set): refused, naming data.path.
        with pytest.raises(ConfigError, match=r"^data\.path: y_val has label\(s\) 3 that y_train"):
            check_trial(spec, backbones=built, data_checked=checked)
    # Refused data is never remembered as checked: each job's check reads it and refuses it.
    assert reads == [str(path), str(path)] and checked == set()
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2]), x_val=x, y_val=np.array([0, 1, 2]))
    for top_k in (1, 2):
        spec = trial_spec(
            compose_config(tmp_path, "data=npz", f"data.path={path}", f"finetune.top_k={top_k}"),
            environment={},
        )
        check_trial(spec, backbones=built, data_checked=checked)
    # Two sample jobs with the same data read the file once.
    assert reads == [str(path)] * 3 and len(checked) == 1
