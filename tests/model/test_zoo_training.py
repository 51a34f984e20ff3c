"""Training on `backbone=zoo` (EfficientNet-Lite0, ImageNet weights, 32 px): the feature cache,
prefix reuse and windows hold on the real backbone as they do on the embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.freeze.plan import apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.model.units import find_units
from freezesweep.model.zoo import build
from freezesweep.runtime import seed_everything
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.model.test_zoo import random_rows
from tests.model.test_zoo import zoo_cache as zoo_cache  # the module's one conversion

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

HEAD = StageSpec(name="head", unfreeze="none", epochs=1, learning_rate=1e-2)


def _train(
    cache: ArrayStore | None, *stages: StageSpec
) -> tuple[ScheduleResult, dict[str, np.ndarray]]:
    seed_everything(0)
    backbone = build.build_backbone("efficientnet_lite0", 32)
    model = attach_head(backbone, 3)
    plans = plan_schedule(model, backbone, ScheduleSpec("zoo", "block", "frozen", stages))
    result = run_schedule(
        model, backbone, plans, random_rows(32, rows=16), batch_size=8, verbose=0,
        cache=cache, seed=0,
    )  # fmt: skip
    weights = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.variables}
    return result, weights


@pytest.fixture
def converted(zoo_cache: Path) -> Iterator[None]:
    del zoo_cache
    yield


def test_cached_stages_agree_with_uncached_ones_on_the_zoo_backbone(converted: None) -> None:
    top2 = StageSpec(name="top2", unfreeze=2, epochs=1, learning_rate=1e-3)
    plain, _ = _train(None, HEAD, top2)
    cached, _ = _train(ArrayStore(), HEAD, top2)
    # The cut sits below block_15 (the input of the lowest trainable unit): both stages cached.
    assert [stage.feature_cache for stage in cached.stages] == ["miss", "miss"]
    for with_cache, without in zip(cached.audits, plain.audits, strict=True):
        assert with_cache.passed and without.passed
        assert (with_cache.actual_trainable, with_cache.actual_non_trainable) == (
            without.actual_trainable,
            without.actual_non_trainable,
        )
        # Every frozen weight (every BN statistic of the 15 blocks below) digested unchanged.
        assert with_cache.digests_after == without.digests_after == with_cache.digests_before
    assert abs(cached.val_accuracy - plain.val_accuracy) <= 0.005


def test_a_reused_head_continues_as_a_retrained_one_on_the_zoo_backbone(
    converted: None,
) -> None:
    store = ArrayStore()
    top1 = StageSpec(name="finetune", unfreeze=1, epochs=1, learning_rate=1e-3)
    top3 = StageSpec(name="finetune", unfreeze=3, epochs=1, learning_rate=1e-3)
    first, _ = _train(store, HEAD, top1)
    reused, reused_weights = _train(store, HEAD, top3)
    retrained, retrained_weights = _train(ArrayStore(), HEAD, top3)
    assert [stage.feature_cache for stage in reused.stages] == ["reused", "miss"]
    assert reused.audits[0].passed
    assert reused.stages[0].history == retrained.stages[0].history
    # A restored stage is charged what training it cost the trial that trained it.
    assert reused.stages[0].cost_seconds == first.stages[0].seconds
    assert reused.stages[0].seconds < first.stages[0].seconds
    if keras.backend.backend() == "tensorflow":
        for path, value in retrained_weights.items():
            assert np.array_equal(reused_weights[path], value), path


def test_windows_of_the_zoo_backbone_train_exactly_their_units(converted: None) -> None:
    backbone = build.build_backbone("efficientnet_lite0", 32)
    model = attach_head(backbone, 3)
    units = [unit.name for unit in find_units(backbone, "block")]
    stages = tuple(
        StageSpec(name=f"w{offset}", unfreeze=2, epochs=1, learning_rate=1e-3, offset=offset)
        for offset in (0, 5, 16)
    )
    plans = plan_schedule(model, backbone, ScheduleSpec("zoo", "block", "frozen", stages))
    for plan, offset in zip(plans, (0, 5, 16), strict=True):
        assert list(plan.units) == units[len(units) - offset - 2 : len(units) - offset]
        apply_plan(model, backbone, plan, "frozen")
        # Keras's own count is the plan's: the window and the head, nothing else.
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert trainable == plan.trainable_params
    result = run_schedule(
        model, backbone, plans[1:2], random_rows(32), batch_size=8, verbose=0
    )  # the window 5 units below the top trains; the blocks above it stay frozen
    (audit,) = result.audits
    assert audit.passed and audit.digests_after == audit.digests_before
