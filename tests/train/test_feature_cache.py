"""Tests for the frozen-boundary feature cache: where it cuts, when it refuses, and parity."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset
from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import StagePlan, apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.model.keras_app import build_application
from freezesweep.runtime import seed_everything
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.spec.read import trial_spec
from freezesweep.train.feature_cache import cache_key, split_at_cut
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.helpers.shrink import compose_config
from tests.train.test_schedule import NUM_CLASSES, digits_plans, random_rows

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

HEAD = StageSpec(name="head", unfreeze="none", epochs=2, learning_rate=1e-2)
TOP_TWO = StageSpec(name="top_two", unfreeze=2, epochs=2, learning_rate=1e-3)


def _train(
    cache: ArrayStore | None, stages: tuple[StageSpec, ...] = (HEAD, TOP_TWO)
) -> tuple[ScheduleResult, list[StagePlan]]:
    seed_everything(0)
    model, backbone, plans = digits_plans(*stages)
    data = random_rows(rows=32)
    return run_schedule(model, backbone, plans, data, batch_size=8, verbose=0, cache=cache), plans


def test_cached_and_uncached_stages_agree_on_counts_digests_and_accuracy() -> None:
    plain, _ = _train(None)
    cached, _ = _train(ArrayStore())

    # Both stages ran on cached features (the cache was empty: misses).
    assert [stage.feature_cache for stage in cached.stages] == ["miss", "miss"]
    assert [stage.feature_cache for stage in plain.stages] == ["off: trainer.feature_cache=off"] * 2
    for with_cache, without in zip(cached.audits, plain.audits, strict=True):
        # The same counts, equal to the plan, and every frozen weight digested before and after.
        assert with_cache.passed and without.passed
        assert (with_cache.actual_trainable, with_cache.actual_non_trainable) == (
            without.actual_trainable,
            without.actual_non_trainable,
        )
        assert with_cache.digests_before == without.digests_before
        assert with_cache.digests_after == without.digests_after
        # The cached stage trained the full model's weights (they moved in the full model).
        assert with_cache.changed_trainable == without.changed_trainable > 0
    # Final val_accuracy within 0.5 percentage points.
    assert abs(cached.val_accuracy - plain.val_accuracy) <= 0.005
    if keras.backend.backend() == "tensorflow":
        # Fused cached epochs draw the same batches as the full fit: the same curves.
        for with_cache, without in zip(cached.stages, plain.stages, strict=True):
            assert with_cache.history["loss"] == pytest.approx(without.history["loss"], rel=1e-4)


def test_a_second_schedule_hits_the_cache() -> None:
    store = ArrayStore()
    _train(store)
    again, _ = _train(store)
    # Same backbone weights below each cut, same data: both stages' features come from the store.
    assert [stage.feature_cache for stage in again.stages] == ["hit", "hit"]


def _split(stage: StageSpec, bn: str = "frozen", data: Dataset | None = None) -> object:
    model, backbone, plans = digits_plans(stage)
    apply_plan(model, backbone, plans[0], bn)
    return split_at_cut(model, backbone, plans[0], bn, data or random_rows())


def test_the_cut_is_the_input_of_the_lowest_trainable_unit() -> None:
    # Head only: the backbone's output; top 2 blocks: the input of block3's first conv.
    assert _split(HEAD).cut == "output of digits_backbone"
    assert _split(TOP_TWO).cut == "input of block3_conv1"


def test_the_cache_says_why_it_is_off() -> None:
    everything = StageSpec(name="all", unfreeze="all", epochs=1, learning_rate=1e-3)
    # Each case that would not be exact runs the normal path, with its reason.
    assert _split(HEAD, bn="train") == "bn=train runs the layers below the cut in training mode"
    assert _split(everything) == "nothing weight-bearing below the lowest trainable unit"


def _residual_backbone(dropout: bool = False) -> keras.Model:
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem_conv")(inputs)
    if dropout:
        x = keras.layers.Dropout(0.5, name="stem_dropout")(x)
    branch = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv1")(x)
    branch = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv2")(branch)
    x = keras.layers.Add(name="block1_add")([x, branch])
    x = keras.layers.Conv2D(4, 3, padding="same", name="top_conv")(x)
    return keras.Model(inputs, x, name="residual")


def _residual_split(pattern: str, dropout: bool = False) -> object:
    backbone = _residual_backbone(dropout)
    model = attach_head(backbone, NUM_CLASSES)
    stage = StageSpec(name="s", unfreeze=pattern, epochs=1, learning_rate=1e-3)
    (plan,) = plan_schedule(model, backbone, ScheduleSpec("t", "layer", "frozen", (stage,)))
    apply_plan(model, backbone, plan, "frozen")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 8, 8, 3)).astype("float32")
    data = Dataset(x, np.arange(8) % NUM_CLASSES, x, np.arange(8) % NUM_CLASSES, NUM_CLASSES)
    return split_at_cut(model, backbone, plan, "frozen", data)


def test_a_cut_inside_a_residual_connection_moves_down_to_a_single_tensor() -> None:
    # block1_conv2's input is inside the residual; the nearest single tensor below is the block's.
    assert _residual_split("block1_conv2").cut == "input of block1_conv1"
    # The top conv sits above the add: its own input is a single-tensor boundary.
    assert _residual_split("top_conv").cut == "input of top_conv"


def test_a_random_layer_below_the_cut_turns_the_cache_off() -> None:
    assert _residual_split("top_conv", dropout=True) == "random layer 'stem_dropout' below the cut"


def test_the_key_changes_with_weights_data_and_precision() -> None:
    model, backbone, plans = digits_plans(TOP_TWO)
    apply_plan(model, backbone, plans[0], "frozen")
    data = random_rows()
    split = split_at_cut(model, backbone, plans[0], "frozen", data)
    assert not isinstance(split, str)
    key = cache_key(split, data)
    # Other images (or other preprocessing of them) miss the cache.
    assert cache_key(split, random_rows(seed=1)) != key
    # Other precision misses the cache.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        assert cache_key(split, data) != key
    finally:
        keras.config.set_dtype_policy(previous)
    # A changed weight below the cut misses the cache.
    kernel = backbone.get_layer("block1_conv1").kernel
    kernel.assign(kernel + 1.0)
    assert cache_key(split, data) != key


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_parity_on_a_keras_application() -> None:
    # MobileNetV3Small at 32 px, random weights: its block cut sits between residual blocks.
    stages = (
        StageSpec(name="head", unfreeze="none", epochs=1, learning_rate=1e-2),
        StageSpec(name="top", unfreeze=1, epochs=1, learning_rate=1e-3),
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(32, 32, 32, 3)).astype("float32")
    y = np.arange(32) % NUM_CLASSES
    data = Dataset(x[:16], y[:16], x[16:], y[16:], NUM_CLASSES)

    def train(cache: ArrayStore | None) -> ScheduleResult:
        seed_everything(0)
        backbone = build_application("MobileNetV3Small", input_shape=(32, 32, 3))
        model = attach_head(backbone, NUM_CLASSES)
        plans = plan_schedule(model, backbone, ScheduleSpec("t", "block", "frozen", stages))
        return run_schedule(model, backbone, plans, data, batch_size=8, verbose=0, cache=cache)

    plain, cached = train(None), train(ArrayStore())
    assert [stage.feature_cache for stage in cached.stages] == ["miss", "miss"]
    for with_cache, without in zip(cached.audits, plain.audits, strict=True):
        assert with_cache.passed
        assert (with_cache.actual_trainable, with_cache.actual_non_trainable) == (
            without.actual_trainable,
            without.actual_non_trainable,
        )
        assert with_cache.digests_after == without.digests_after
    assert abs(cached.val_accuracy - plain.val_accuracy) <= 0.005


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "trainer.feature_cache=sometimes",
            "trainer.feature_cache must be one of auto, off; got 'sometimes'.",
        ),
        ("trainer.feature_cache_gb=0", "trainer.feature_cache_gb must be > 0; got 0."),
        ("trainer.feature_cache_gb=lots", "trainer.feature_cache_gb must be a number; got 'lots'."),
    ],
)
def test_the_cache_settings_are_validated(tmp_path: Path, override: str, message: str) -> None:
    # A bad setting fails before anything is built, naming the key and what is allowed.
    with pytest.raises(ConfigError) as error:
        trial_spec(compose_config(tmp_path, override))
    assert str(error.value) == message


def test_the_cache_settings_default_to_auto_and_two_gigabytes(tmp_path: Path) -> None:
    trainer = trial_spec(compose_config(tmp_path)).trainer
    assert (trainer.feature_cache, trainer.feature_cache_gb) == ("auto", 2.0)
