"""Windows of units (`finetune.top_k` units below `finetune.offset` frozen top units): every window
plans the exact counts Keras reports, and a window that does not fit names both keys."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import apply_plan, plan_schedule
from freezesweep.model.assemble import build_backbone, build_model
from freezesweep.model.backbone import attach_head
from freezesweep.model.units import find_units
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.spec.read import trial_spec
from tests.freeze.test_plan import assert_plan_matches_keras, assert_trainable_layers, digits_model
from tests.helpers.shrink import compose_config


def windows(unit: str, count: int, bn: str = "frozen") -> ScheduleSpec:
    """One stage per window (top_k, offset) that fits `count` units."""
    stages = tuple(
        StageSpec(
            name=f"k{top_k}_o{offset}",
            unfreeze=top_k,
            offset=offset,
            epochs=1,
            learning_rate=1e-3,
            unfreeze_key="finetune.top_k",
            offset_key="finetune.offset",
        )
        for top_k in range(count + 1)
        for offset in range(count - top_k + 1)
    )
    return ScheduleSpec(name="windows", unit=unit, bn=bn, stages=stages)  # type: ignore[arg-type]


@pytest.mark.parametrize("bn", ["frozen", "train"])
@pytest.mark.parametrize("unit", ["block", "layer"])
def test_every_window_of_the_embedded_backbone(unit: str, bn: str) -> None:
    model, backbone = digits_model()
    units = [found.name for found in find_units(backbone, unit)]  # type: ignore[arg-type]
    plans = plan_schedule(model, backbone, windows(unit, len(units), bn))
    for plan in plans:
        top_k, offset = plan.stage.unfreeze, plan.stage.offset
        assert isinstance(top_k, int)
        # The window: top_k units ending `offset` units below the top.
        assert list(plan.units) == units[len(units) - offset - top_k : len(units) - offset]
        apply_plan(model, backbone, plan, bn)
        assert_plan_matches_keras(model, plan)
        assert_trainable_layers(backbone, plan, bn)


@pytest.mark.parametrize("name", ["MobileNetV3Small", "MobileNetV2"])
def test_windows_of_applications_equal_keras(name: str) -> None:
    keras.backend.clear_session()
    backbone = getattr(keras.applications, name)(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    model = attach_head(backbone, 3)
    count = len(find_units(backbone, "block"))
    chosen = [(1, 0), (1, count // 2), (2, count - 2), (1, count - 1), (count, 0)]
    stages = tuple(
        StageSpec(name=f"k{k}_o{o}", unfreeze=k, offset=o, epochs=1, learning_rate=1e-3)
        for k, o in chosen
    )
    plans = plan_schedule(model, backbone, ScheduleSpec("w", "block", "frozen", stages))
    for plan in plans:
        apply_plan(model, backbone, plan, "frozen")
        assert_plan_matches_keras(model, plan)
        assert_trainable_layers(backbone, plan, "frozen")
    # A one-unit window deep in the backbone trains fewer parameters than the same window on top
    # only where the lower block is smaller; either way it never trains the units above it.
    lowest = plans[3]
    assert len(lowest.units) == 1 and lowest.units[0] == find_units(backbone, "block")[0].name


def test_a_window_past_the_bottom_names_both_keys() -> None:
    model, backbone = digits_model()
    stage = StageSpec(
        name="finetune",
        unfreeze=2,
        offset=3,
        epochs=1,
        learning_rate=1e-3,
        unfreeze_key="finetune.top_k",
        offset_key="finetune.offset",
    )
    with pytest.raises(ConfigError) as error:
        plan_schedule(model, backbone, ScheduleSpec("w", "block", "frozen", (stage,)))
    assert str(error.value) == (
        "finetune.top_k + finetune.offset must be at most 4 (the backbone has 4 block units); "
        "got 2 + 3 = 5."
    )


def test_an_offset_needs_a_unit_count() -> None:
    model, backbone = digits_model()
    stage = StageSpec(
        name="all",
        unfreeze="all",
        offset=1,
        epochs=1,
        learning_rate=1e-3,
        unfreeze_key="schedule.stages.1.unfreeze",
        offset_key="finetune.offset",
    )
    with pytest.raises(ConfigError) as error:
        plan_schedule(model, backbone, ScheduleSpec("w", "block", "frozen", (stage,)))
    assert str(error.value) == (
        "finetune.offset needs a unit count in schedule.stages.1.unfreeze; got 'all'."
    )


def test_the_default_schedule_trains_the_configured_window(tmp_path: Path) -> None:
    spec = trial_spec(
        compose_config(tmp_path, "finetune.top_k=1", "finetune.offset=2"), environment={}
    )
    backbone, _ = build_backbone(spec)
    model = build_model(spec, backbone, 5)
    head, finetune = plan_schedule(model, backbone, spec.schedule)
    # finetune.offset reaches the stage through `offset: ${finetune.offset}` in two_stage.yaml.
    assert (head.units, finetune.units) == ((), ("block2",))
    assert spec.offset == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("finetune.offset=-1", "finetune.offset must be >= 0; got -1."),
        ("finetune.offset=1.5", "finetune.offset must be an integer; got 1.5."),
    ],
)
def test_bad_offsets_name_the_key(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        trial_spec(compose_config(tmp_path, override), environment={})
    assert str(error.value) == message
