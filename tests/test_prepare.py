"""One way to build a trial: `prepare_trial` and the data-free `check_trial`."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

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
