"""The config reader: the real config tree composes, and bad values fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from freezesweep.errors import ConfigError
from freezesweep.spec.read import trial_spec

CONF = Path(__file__).resolve().parents[2] / "conf"


def _spec(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return trial_spec(compose("config", overrides=list(overrides)), environment={})


def test_defaults_compose_into_the_two_stage_recipe() -> None:
    spec = _spec()
    # The default schedule is the Keras guide's: head first, then the top finetune.top_k blocks.
    assert spec.schedule.name == "two_stage"
    assert [stage.unfreeze for stage in spec.schedule.stages] == ["none", 2]
    # lr_multiplier is relative to the searched fine-tuning LR.
    assert spec.schedule.stages[1].learning_rate == pytest.approx(spec.finetune_lr)
    # The finetune stage's depth points back at the key the user sets.
    assert spec.schedule.stages[1].unfreeze_key == "finetune.top_k"
    # The local SQLite store is the default when nothing else is configured.
    assert spec.tracking.uri == "sqlite:///mlruns/mlflow.db"


def test_gradual_expands_one_stage_per_unit() -> None:
    spec = _spec("schedule=gradual", "finetune.top_k=3")
    # ULMFiT: one more unit per stage, up to finetune.top_k.
    assert [(s.name, s.unfreeze) for s in spec.schedule.stages] == [
        ("head", "none"),
        ("finetune_1", 1),
        ("finetune_2", 2),
        ("finetune_3", 3),
    ]


def test_environment_tracking_uri_wins_over_the_default() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config")
    # MLFLOW_TRACKING_URI is honoured when tracking.uri is not set.
    spec = trial_spec(cfg, environment={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    assert spec.tracking.uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("finetune.top_k=-1", "finetune.top_k must be >= 0; got -1."),
        ("finetune.lr=0", "finetune.lr must be > 0; got 0."),
        ("finetune.lr=-0.1", "finetune.lr must be > 0; got -0.1."),
        ("finetune.lr_decay=0", "finetune.lr_decay must be in (0, 1]; got 0."),
        ("finetune.lr_decay=1.5", "finetune.lr_decay must be in (0, 1]; got 1.5."),
        ("finetune.lr_decay=nan", "finetune.lr_decay must be in (0, 1]; got nan."),
        ("finetune.lr_decay=fast", "finetune.lr_decay must be a number in (0, 1]; got 'fast'."),
        (
            "+schedule.stages.1.lr_decay=2",
            "schedule.stages.1.lr_decay must be in (0, 1]; got 2.",
        ),
        ("schedule.stages.0.lr=0", "schedule.stages.0.lr must be > 0; got 0."),
        ("schedule.stages.1.epochs=0", "schedule.stages.1.epochs must be >= 1; got 0."),
        ("schedule.stages=[]", "schedule.stages must be a non-empty list of stages."),
        ("schedule.unit=blocks", "schedule.unit must be one of layer, block; got 'blocks'."),
        ("schedule.bn=fixed", "schedule.bn must be one of frozen, train; got 'fixed'."),
        (
            "+schedule.stages.1.lr=0.1",
            "schedule.stages.1 needs exactly one of lr (absolute) or lr_multiplier "
            "(times finetune.lr).",
        ),
        (
            "tracking.epoch_metrics_flush_s=-1",
            "tracking.epoch_metrics_flush_s must be >= 0; got -1.",
        ),
        (
            "tracking.epoch_metrics_flush_s=soon",
            "tracking.epoch_metrics_flush_s must be a number; got 'soon'.",
        ),
        (
            "objectives=[accuracy]",
            "objectives must be one of val_accuracy, trainable_params; got 'accuracy'.",
        ),
    ],
)
def test_bad_values_fail_naming_the_key(override: str, message: str) -> None:
    # One exact message per bad value, raised before anything is built.
    with pytest.raises(ConfigError) as caught:
        _spec(override)
    assert str(caught.value) == message


def test_config_errors_are_value_errors() -> None:
    # Callers that catch ValueError (as Keras users do) also catch config errors.
    assert issubclass(ConfigError, ValueError)


def test_the_few_defaults_the_spec_types_also_hold_match_the_shipped_config() -> None:
    from freezesweep.spec import MethodSpec, TrackingSpec

    # Written once in conf/; the spec types hold a default only where a config may lack the key
    # (another app's tracking section) or specs are built in code. Those must agree with conf/.
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config")
    assert cfg.tracking.epoch_metrics_flush_s == TrackingSpec.epoch_metrics_flush_s
    method = MethodSpec()
    assert (cfg.finetune.method, cfg.finetune.lora_rank) == (method.name, method.lora_rank)
    assert cfg.finetune.lora_alpha == method.lora_alpha


def test_a_config_without_a_shipped_setting_fails_naming_it() -> None:
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config")
    with open_dict(cfg):
        del cfg.trainer["mixed_precision"]
    # Its default lives in conf/ only: the reader does not invent one.
    with pytest.raises(ConfigError, match=r"^trainer.mixed_precision is missing"):
        trial_spec(cfg, environment={})
