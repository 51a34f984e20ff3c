"""`experiment=depth_curve_keras_app`: the depth curve on a Keras Applications backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from freezesweep.model.keras_app import build_application
from freezesweep.model.units import find_units
from freezesweep.spec.read import trial_spec
from freezesweep.trial import run_trial
from tests.data.test_image_folder import write_png_folder
from tests.helpers.shrink import CONF, compose_config

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run


def test_experiment_composes_backbone_data_and_sweep() -> None:
    overrides = ["experiment=depth_curve_keras_app", "data.directory=/data"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        spec = trial_spec(compose("config", overrides=overrides), environment={})
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    # One override switches backbone, data and sweep together.
    assert (spec.backbone.source, spec.backbone.name, spec.backbone.weights) == (
        "keras_app",
        "MobileNetV2",
        "imagenet",
    )
    assert spec.data.kind == "image_folder" and len(spec.data.augmentation) == 2
    sweeper = cfg.hydra.sweeper
    assert sweeper.study_name == "depth_curve_keras_app"
    assert sweeper.sampler._target_ == "optuna.samplers.BruteForceSampler"
    # The deepest depth searched is every unit of MobileNetV2: stem, 17 blocks, top conv.
    depths = [int(d) for d in sweeper.params["finetune.top_k"][len("choice(") : -1].split(",")]
    units = find_units(build_application("MobileNetV2", input_shape=(32, 32, 3)), "block")
    assert max(depths) == len(units) == 19
    assert sweeper.n_trials == len(depths) * 3


@pytest.mark.slow
def test_experiment_trial_runs_on_a_png_folder(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits", per_class=4)
    cfg = compose_config(
        tmp_path,
        "experiment=depth_curve_keras_app",
        f"data.directory={folder}",
        "backbone.weights=null",
        "backbone.input_size=32",
        "finetune.top_k=3",
        "trainer.batch_size=4",
        "tracking.enabled=false",
    )
    # The experiment's own stages, shrunk to one epoch each, train on a real folder.
    value = run_trial(cfg)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
