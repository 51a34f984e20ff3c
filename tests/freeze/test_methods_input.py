"""Bad `finetune.method` input: one `ConfigError` line naming the keys, before anything trains
or any run exists (exit 2 from `python sweep.py`)."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import check_depths, plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.spec import MethodSpec, ScheduleSpec, StageSpec
from tests.freeze.test_plan import digits_model
from tests.spec.test_read import _spec
from tests.sweeps.test_app import _sweep

FINETUNE = StageSpec(
    name="finetune", unfreeze=1, epochs=1, learning_rate=1e-3, unfreeze_key="finetune.top_k"
)


def _schedule(method: str, rank: int = 4, unit: str = "layer") -> ScheduleSpec:
    return ScheduleSpec("m", unit, "frozen", (FINETUNE,), MethodSpec(method, rank))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "finetune.method=adapters",
            "finetune.method must be one of unfreeze, lora, bitfit, norm; got 'adapters'.",
        ),
        ("finetune.lora_rank=0", "finetune.lora_rank must be >= 1; got 0."),
        ("finetune.lora_rank=2.5", "finetune.lora_rank must be an integer; got 2.5."),
        ("finetune.lora_alpha=-1", "finetune.lora_alpha must be > 0; got -1."),
        ("trainer.save_model=yes", "trainer.save_model must be true or false; got 'yes'."),
    ],
)
def test_bad_method_values_name_the_key(override: str, message: str) -> None:
    # Read from the config alone, before any model exists.
    with pytest.raises(ConfigError) as raised:
        _spec(override)
    assert str(raised.value) == message


def test_a_lora_rank_above_the_smallest_kernel_dimension_is_refused() -> None:
    model, backbone = digits_model()
    # The top layer unit is block4_conv2 (+ BN): a 3x3x64 -> 64 kernel, so rank 64 at most.
    message = (
        "finetune.lora_rank must be between 1 and 64, the smallest kernel dimension in the window "
        "of finetune.top_k=1 (layer 'block4_conv2', kernel (3, 3, 64, 64)); got 65."
    )
    with pytest.raises(ConfigError) as raised:
        plan_schedule(model, backbone, _schedule("lora", rank=65))
    assert str(raised.value) == message
    # The sweep's preflight check (no head, no data) says the same, and nothing was changed.
    with pytest.raises(ConfigError) as raised:
        check_depths(backbone, _schedule("lora", rank=65))
    assert str(raised.value) == message
    assert not any(getattr(layer, "lora_enabled", False) for layer in backbone.layers)
    assert len(plan_schedule(model, backbone, _schedule("lora", rank=64))[0].variables or ()) == 2


def _plain_backbone(layer: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    outputs = layer(keras.layers.Conv2D(4, 3, use_bias=False, name="stem")(inputs))
    return keras.Model(inputs, outputs, name="plain")


@pytest.mark.parametrize(
    ("method", "layer", "missing"),
    [
        ("bitfit", keras.layers.Conv2D(4, 3, use_bias=False), "biases or normalization offsets"),
        ("norm", keras.layers.Conv2D(4, 3), "normalization scale or offset"),
        (
            "lora",
            keras.layers.DepthwiseConv2D(3),
            "layers Keras can add LoRA to (Dense, EinsumDense, Embedding, Conv1D/2D/3D)",
        ),
    ],
)
def test_a_window_with_nothing_to_train_is_refused(
    method: str, layer: keras.layers.Layer, missing: str
) -> None:
    backbone = _plain_backbone(layer)
    model = attach_head(backbone, 3)
    with pytest.raises(ConfigError) as raised:
        plan_schedule(model, backbone, _schedule(method))
    assert str(raised.value) == (
        f"finetune.method={method} has nothing to train in the window of finetune.top_k=1 "
        f"(stage 'finetune'): its layers have no {missing}."
    )


@pytest.mark.slow
def test_a_bad_rank_is_one_line_exit_2_and_no_run(tmp_path: Path) -> None:
    result = _sweep(tmp_path, "finetune.method=lora", "finetune.lora_rank=65", "finetune.top_k=1")
    # Exit code 2, one line naming the keys, nothing created in MLflow.
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: finetune.lora_rank must be between 1 and 64, the smallest kernel dimension in "
        "the window of finetune.top_k=1 (layer 'block4_conv1', kernel (3, 3, 64, 64)); got 65."
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()
