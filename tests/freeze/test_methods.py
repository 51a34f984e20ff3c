"""Fine-tuning methods (`finetune.method`: lora, bitfit, norm): exact counts, what trains, the
audit of the frozen base kernels, the feature cache's cut, and merged LoRA saving."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset
from freezesweep.freeze.plan import StagePlan, apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.model.export import save_merged
from freezesweep.runtime import seed_everything
from freezesweep.spec import MethodSpec, ScheduleSpec, StageSpec
from freezesweep.train.feature_cache import split_at_cut
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.freeze.test_plan import assert_plan_matches_keras, digits_model
from tests.train.test_schedule import NUM_CLASSES, random_rows, snapshot

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

METHODS = ("lora", "bitfit", "norm")
TOP_TWO = StageSpec(
    name="finetune", unfreeze=2, epochs=2, learning_rate=1e-2, unfreeze_key="finetune.top_k"
)


def schedule(method: str, *stages: StageSpec, bn: str = "frozen", rank: int = 2) -> ScheduleSpec:
    return ScheduleSpec("m", "block", bn, stages or (TOP_TWO,), MethodSpec(method, rank))  # type: ignore[arg-type]


def application(name: str) -> tuple[keras.Model, keras.Model]:
    backbone = getattr(keras.applications, name)(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    return attach_head(backbone, NUM_CLASSES), backbone


def _rgb(images: np.ndarray) -> np.ndarray:
    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (32, 32)))
    return np.repeat(resized, 3, axis=-1) / 255.0


def image_rows(rows: int = 8) -> Dataset:
    """Random rows at the applications' small input size (32x32 RGB)."""
    data = random_rows(rows)
    return Dataset(_rgb(data.x_train), data.y_train, _rgb(data.x_val), data.y_val, NUM_CLASSES)


def head_paths(model: keras.Model, backbone: keras.Model) -> set[str]:
    return {w.path for layer in model.layers if layer is not backbone for w in layer.weights}


def lora_kernels(plan: StagePlan) -> list[keras.Variable]:
    return [layer._kernel for layer in plan.layers if getattr(layer, "lora_enabled", False)]


def check_trains_only_the_method(
    model: keras.Model, backbone: keras.Model, plan: StagePlan, data: Dataset, bn: str = "frozen"
) -> ScheduleResult:
    """Fit one stage; only the method's variables and the head may move, the audit passes."""
    apply_plan(model, backbone, plan, bn)
    assert_plan_matches_keras(model, plan)
    intended = {w.path for w in plan.variables or ()}
    # Keras trains exactly the plan's variables and the head.
    assert {w.path for w in model.trainable_weights} == intended | head_paths(model, backbone)
    before = snapshot(model)
    result = run_schedule(
        model, backbone, [plan], data, bn=bn, batch_size=8, verbose=0, jit_compile=False
    )
    after = snapshot(model)
    moved = {path for path in before if not np.array_equal(before[path], after[path])}
    # Nothing outside the method's variables and the head moved; some of the method's did.
    assert moved - head_paths(model, backbone) <= intended
    assert moved & intended
    (audit,) = result.audits
    assert audit.passed and audit.method == plan.method
    # The audit digests every LoRA base kernel: frozen, and unchanged.
    for kernel in lora_kernels(plan):
        assert kernel.path in audit.digests_before and kernel.path not in moved
    return result


@pytest.mark.parametrize("method", METHODS)
def test_each_method_on_the_embedded_backbone(method: str) -> None:
    seed_everything(0)
    model, backbone = digits_model()
    (plan,) = plan_schedule(model, backbone, schedule(method))
    assert plan.units == ("block3", "block4")
    expected = {
        # Two conv layers per block get adapters; BN has none to add.
        "lora": ("block3_conv1", "block3_conv2", "block4_conv1", "block4_conv2"),
        # Convolutions have no bias here: only BN offsets (bitfit) or scale and offset (norm).
        "bitfit": ("block3_bn1", "block3_bn2", "block4_bn1", "block4_bn2"),
        "norm": ("block3_bn1", "block3_bn2", "block4_bn1", "block4_bn2"),
    }[method]
    assert tuple(layer.name for layer in plan.layers) == expected
    # The window's other layers are listed as skipped.
    assert len(plan.skipped) == 8 - len(expected)
    check_trains_only_the_method(model, backbone, plan, random_rows(16))


@pytest.mark.parametrize(
    # LoRA on MobileNetV2 stays in the default tier; every method runs there on the embedded
    # backbone, and bitfit/norm on MobileNetV2 in the slow tier (about 12 s each on 2 cores).
    "method",
    ["lora", *(pytest.param(m, marks=pytest.mark.slow) for m in METHODS if m != "lora")],
)
@pytest.mark.parametrize(
    # EfficientNetB0 takes ~30 s a fit on 2 cores: in the slow tier, to keep the default one short.
    "name",
    ["MobileNetV2", pytest.param("EfficientNetB0", marks=pytest.mark.slow)],
)
def test_each_method_on_applications(name: str, method: str) -> None:
    keras.backend.clear_session()
    seed_everything(0)
    model, backbone = application(name)
    (plan,) = plan_schedule(model, backbone, schedule(method))
    if method == "lora":
        # Depthwise convolutions are not adaptable: they stay frozen and the plan lists them.
        assert any("depthwise" in skip or "dwconv" in skip for skip in plan.skipped)
    check_trains_only_the_method(model, backbone, plan, image_rows())


def test_norm_under_bn_train_moves_moving_statistics_too() -> None:
    seed_everything(0)
    model, backbone = digits_model()
    (plan,) = plan_schedule(model, backbone, schedule("norm", bn="train"))
    before = snapshot(model)
    result = run_schedule(
        model, backbone, [plan], random_rows(16), bn="train", batch_size=8, verbose=0
    )
    after = snapshot(model)
    # Moving statistics follow schedule.bn: under `train` they move, and the audit allows it.
    assert not np.array_equal(before["block4_bn2/moving_mean"], after["block4_bn2/moving_mean"])
    assert result.audits[0].passed


@pytest.mark.parametrize(
    ("method", "cut"),
    [
        ("lora", "input of block3_conv1"),
        ("bitfit", "input of block3_bn1"),
        ("norm", "input of block3_bn1"),
    ],
)
def test_feature_cache_cuts_below_the_lowest_trained_layer(method: str, cut: str) -> None:
    def train(cache: ArrayStore | None) -> ScheduleResult:
        keras.backend.clear_session()
        seed_everything(0)
        model, backbone = digits_model()
        plans = plan_schedule(model, backbone, schedule(method))
        apply_plan(model, backbone, plans[0], "frozen")
        split = split_at_cut(model, backbone, plans[0], "frozen", random_rows(16))
        assert not isinstance(split, str) and split.cut == cut
        return run_schedule(
            model, backbone, plans, random_rows(16), batch_size=8, verbose=0, cache=cache
        )

    plain, cached = train(None), train(ArrayStore())
    assert cached.stages[0].feature_cache == "miss"
    # Cached or not: the same audit (counts and frozen digests) and the same accuracy.
    assert cached.audits[0].passed and plain.audits[0].passed
    assert cached.audits[0].digests_after == plain.audits[0].digests_after
    assert abs(cached.val_accuracy - plain.val_accuracy) <= 0.005


def test_a_saved_lora_model_is_merged_and_loads_in_safe_mode(tmp_path: Path) -> None:
    seed_everything(0)
    model, backbone = digits_model()
    plans = plan_schedule(model, backbone, schedule("lora"))
    run_schedule(model, backbone, plans, random_rows(16), batch_size=8, verbose=0)
    path = save_merged(model, tmp_path / "model.keras")
    loaded = keras.saving.load_model(path, safe_mode=True)
    # No LoRA factors in the file: a plain model with the original variable count.
    inner = next(layer for layer in loaded.layers if isinstance(layer, keras.Model))
    assert not any(getattr(layer, "lora_enabled", False) for layer in inner.layers)
    assert len(loaded.weights) == len(model.weights) - 2 * len(lora_kernels(plans[0]))
    # Same predictions as the fine-tuned model with its adapters.
    images = random_rows(16).x_val
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict(images, verbose=0)),
        keras.ops.convert_to_numpy(model.predict(images, verbose=0)),
        atol=1e-5,
    )


def test_a_lora_trial_logs_its_method_and_saves_a_merged_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.tracking import MlflowClient

    from freezesweep.trial import run_trial
    from tests.helpers.shrink import compose_config

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_config(
        tmp_path, "finetune.method=lora", "finetune.lora_rank=2", "trainer.save_model=true"
    )
    run_trial(cfg, output_dir=tmp_path / "job")
    # The settings line printed after the trial names the method and its rank.
    assert "top_k=2 method=lora rank=2 lr=" in capsys.readouterr().out
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # The method and its rank are params; the stage lists the layers LoRA left out (BN).
    assert run.data.params["finetune.method"] == "lora"
    assert run.data.params["finetune.lora_rank"] == "2"
    assert run.data.params["stage1.finetune.method"] == "lora"
    assert "block4_bn1" in run.data.params["stage1.finetune.skipped_layers"]
    # model.keras beside the audit and as an artifact: plain Keras loads it in safe mode.
    assert "model.keras" in {item.path for item in client.list_artifacts(run.info.run_id)}
    loaded = keras.saving.load_model(tmp_path / "job" / "model.keras", safe_mode=True)
    assert loaded.count_params() == 147_029
