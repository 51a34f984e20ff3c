"""Tests for freezesweep.freeze.plan: plans, applying them, and counts equal to Keras's own."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import keras
import pytest

from freezesweep.freeze.plan import (
    StagePlan,
    apply_plan,
    count_params,
    plan_schedule,
    trainable_fingerprint,
)
from freezesweep.model.backbone import (
    attach_head,
    build_digits_backbone,
    default_backbone_path,
    load_backbone,
)
from freezesweep.model.units import weight_bearing_layers
from freezesweep.spec import ScheduleSpec, StageSpec

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

NUM_CLASSES = 5
# The embedded backbone: 4 blocks of (conv, BN) x 2, i.e. 8 conv+BN layer units.
DIGITS_UNITS = {"block": 4, "layer": 8}
APPLICATIONS = ("MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50")
APPLICATION_DEPTHS: tuple[int | str, ...] = (0, 1, 3, "all")


def schedule(
    unit: str, bn: str, depths: Iterable[int | str], key: str = "finetune.top_k"
) -> ScheduleSpec:
    stages = tuple(
        StageSpec(
            name=f"top_{depth}", unfreeze=depth, epochs=1, learning_rate=1e-3, unfreeze_key=key
        )
        for depth in depths
    )
    return ScheduleSpec(name="test", unit=unit, bn=bn, stages=stages)  # type: ignore[arg-type]


def digits_model() -> tuple[keras.Model, keras.Model]:
    backbone = load_backbone(default_backbone_path())
    return attach_head(backbone, NUM_CLASSES), backbone


def summary_counts(model: keras.Model) -> tuple[int, int]:
    """(trainable, non-trainable) exactly as `model.summary()` prints them."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, line_break=True: lines.append(line))
    text = "\n".join(lines)

    def number(label: str) -> int:
        match = re.search(rf"^\s*{label} params: ([\d,]+)", text, re.MULTILINE)
        assert match is not None, text
        return int(match.group(1).replace(",", ""))

    return number("Trainable"), number("Non-trainable")


def assert_plan_matches_keras(model: keras.Model, plan: StagePlan) -> None:
    actual = (count_params(model.trainable_weights), count_params(model.non_trainable_weights))
    # The plan's counts are what Keras's variables give after apply_plan...
    assert actual == (plan.trainable_params, plan.non_trainable_params), plan.stage.name
    # ...and what Keras's own summary prints.
    assert summary_counts(model) == actual, plan.stage.name


def assert_trainable_layers(backbone: keras.Model, plan: StagePlan, bn: str) -> None:
    chosen = {id(layer) for layer in plan.layers}
    for layer in weight_bearing_layers(backbone):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        expected = id(layer) in chosen and not (is_batch_norm and bn == "frozen")
        # Exactly the plan's layers train; BN never under `frozen`, with its unit under `train`.
        assert layer.trainable is expected, (plan.stage.name, layer.name)


@pytest.mark.parametrize("bn", ["frozen", "train"])
@pytest.mark.parametrize("unit", ["block", "layer"])
def test_digits_counts_equal_keras_at_every_depth(unit: str, bn: str) -> None:
    model, backbone = digits_model()
    head = count_params(model.get_layer("head_classifier").weights)
    total = count_params(model.weights)
    plans = plan_schedule(model, backbone, schedule(unit, bn, range(DIGITS_UNITS[unit] + 1)))

    # Depth 0 trains the head only; deeper plans train strictly more.
    assert plans[0].trainable_params == head
    trainable = [plan.trainable_params for plan in plans]
    assert trainable == sorted(set(trainable))
    for plan in plans:
        # Every weight is counted once, trainable or not.
        assert plan.trainable_params + plan.non_trainable_params == total
        apply_plan(model, backbone, plan, bn)
        assert_plan_matches_keras(model, plan)
        assert_trainable_layers(backbone, plan, bn)


def test_digits_block_units_are_named_top_down() -> None:
    model, backbone = digits_model()
    plans = plan_schedule(model, backbone, schedule("block", "frozen", [1, 2]))
    # The top k units are the k blocks nearest the output.
    assert [plan.units for plan in plans] == [("block4",), ("block3", "block4")]


def test_pattern_stage_counts_equal_keras() -> None:
    model, backbone = digits_model()
    [plan] = plan_schedule(model, backbone, schedule("layer", "train", ["block4_*"]))
    # A pattern selects exactly the matching layers, whose units are reported.
    assert [layer.name for layer in plan.layers] == [
        "block4_conv1",
        "block4_bn1",
        "block4_conv2",
        "block4_bn2",
    ]
    assert plan.units == ("block4_conv1", "block4_conv2")
    apply_plan(model, backbone, plan, "train")
    assert_plan_matches_keras(model, plan)
    assert_trainable_layers(backbone, plan, "train")


@pytest.fixture(scope="module", params=APPLICATIONS)
def application(
    request: pytest.FixtureRequest,
) -> tuple[keras.Model, keras.Model, dict[str, list[StagePlan]]]:
    keras.backend.clear_session()
    build = getattr(keras.applications, request.param)
    backbone = build(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = attach_head(backbone, NUM_CLASSES)
    # Planned once on the fresh model, before any freezing, as a trial does.
    plans = {
        bn: plan_schedule(model, backbone, schedule("block", bn, APPLICATION_DEPTHS))
        for bn in ("frozen", "train")
    }
    return model, backbone, plans


@pytest.mark.parametrize("bn", ["frozen", "train"])
def test_application_counts_equal_keras(
    application: tuple[keras.Model, keras.Model, dict[str, list[StagePlan]]], bn: str
) -> None:
    model, backbone, plans = application
    for plan in plans[bn]:
        apply_plan(model, backbone, plan, bn)
        assert_plan_matches_keras(model, plan)
        assert_trainable_layers(backbone, plan, bn)
    frozen_all, train_all = plans["frozen"][-1], plans["train"][-1]
    # With everything unfrozen, only the BN policy separates the counts: gammas and betas.
    gammas_and_betas = count_params(
        weight
        for layer in weight_bearing_layers(backbone)
        if isinstance(layer, keras.layers.BatchNormalization)
        for weight in (layer.gamma, layer.beta)
        if weight is not None
    )
    assert train_all.trainable_params - frozen_all.trainable_params == gammas_and_betas > 0


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (
            "block",
            "finetune.top_k must be between 0 and 4 (the backbone has 4 block units); got 9.",
        ),
        (
            "layer",
            "finetune.top_k must be between 0 and 8 (the backbone has 8 layer units); got 9.",
        ),
    ],
)
def test_depth_beyond_the_backbone_is_refused(unit: str, message: str) -> None:
    model, backbone = digits_model()
    # A depth larger than the unit count names the key, the range and the value given.
    with pytest.raises(ValueError) as error:
        plan_schedule(model, backbone, schedule(unit, "frozen", [9]))
    assert str(error.value) == message


def test_pattern_matching_no_layer_is_refused() -> None:
    model, backbone = digits_model()
    spec = schedule("block", "frozen", [1, "block9_*"], key="schedule.stages.1.unfreeze")
    # A pattern that matches nothing names the key, the pattern and the backbone.
    with pytest.raises(ValueError) as error:
        plan_schedule(model, backbone, spec)
    assert str(error.value) == (
        "schedule.stages.1.unfreeze: pattern 'block9_*' matches no weight-bearing layer of "
        "backbone 'digits_backbone'."
    )


def test_trainable_fingerprint_tracks_trainable_flags_only() -> None:
    model, backbone = digits_model()
    original = trainable_fingerprint(model)
    conv = backbone.get_layer("block2_conv1")

    # Same flags, new weight values, or a weightless layer flipped: same fingerprint.
    assert trainable_fingerprint(model) == original
    conv.kernel.assign(conv.kernel + 1.0)
    assert trainable_fingerprint(model) == original
    backbone.get_layer("block2_relu1").trainable = False
    assert trainable_fingerprint(model) == original

    # Freezing a weight-bearing layer changes it; unfreezing it again restores it.
    conv.trainable = False
    frozen = trainable_fingerprint(model)
    assert frozen != original
    conv.trainable = True
    assert trainable_fingerprint(model) == original


def test_plan_does_not_depend_on_current_trainable_flags() -> None:
    model, backbone = digits_model()
    fresh = plan_schedule(model, backbone, schedule("block", "train", range(5)))
    [head_only] = plan_schedule(model, backbone, schedule("block", "frozen", [0]))
    apply_plan(model, backbone, head_only, "frozen")
    replanned = plan_schedule(model, backbone, schedule("block", "train", range(5)))
    # Planning is a pure function of model structure and schedule, not of earlier freezing.
    assert [plan.trainable_params for plan in replanned] == [
        plan.trainable_params for plan in fresh
    ]


def test_backbone_saved_frozen_still_plans_its_top_block(tmp_path: Path) -> None:
    reference_model, reference_backbone = digits_model()
    [expected] = plan_schedule(
        reference_model, reference_backbone, schedule("block", "frozen", [1])
    )
    saved = build_digits_backbone()
    # The keras.io transfer-learning habit: freeze the base, then save it.
    saved.trainable = False
    saved.save(tmp_path / "frozen.keras")
    backbone = load_backbone(tmp_path / "frozen.keras")
    model = attach_head(backbone, NUM_CLASSES)
    [plan] = plan_schedule(model, backbone, schedule("block", "frozen", [1]))
    apply_plan(model, backbone, plan, "frozen")
    # A saved trainable flag does not change what a depth means.
    assert plan.trainable_params == expected.trainable_params
    assert_plan_matches_keras(model, plan)
