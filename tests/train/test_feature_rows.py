"""Tests for the rows the feature cache reads: a streamed image folder (too large to decode into
arrays) is cached like its arrays, in memory or on disk, on the same batches."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset, Pipelines
from freezesweep.data.image_folder import load_image_folder
from freezesweep.freeze.plan import apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head, default_backbone_path, load_backbone
from freezesweep.runtime import seed_everything
from freezesweep.spec import ScheduleSpec
from freezesweep.train.feature_cache import split_at_cut
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.data.test_image_folder import write_png_folder
from tests.train.test_feature_cache import HEAD

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="disk-backed epochs are TensorFlow's"
)
SHAPE = (28, 28, 1)


def _train(data: Dataset | Pipelines, cache: ArrayStore) -> ScheduleResult:
    seed_everything(0)
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, 3)
    plans = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", (HEAD,)))
    return run_schedule(model, backbone, plans, data, batch_size=4, verbose=0, cache=cache)


def test_a_streamed_folder_is_cached_in_memory_and_on_disk_on_the_same_batches(
    tmp_path: Path,
) -> None:
    folder = write_png_folder(tmp_path / "digits")
    arrays = load_image_folder(folder, image_shape=SHAPE, batch_size=4, arrays_up_to=10**9)
    streamed = load_image_folder(folder, image_shape=SHAPE, batch_size=4, arrays_up_to=1000)
    assert isinstance(arrays, Dataset) and isinstance(streamed, Pipelines)
    # Too large for arrays, unaugmented: the stage trains on cached features, not in full.
    in_memory = _train(streamed, ArrayStore())
    assert in_memory.stages[0].feature_cache == "miss"
    # Features over the bound: on disk in float16, then read back from there by a later stage
    # (which TensorFlow's global seed, set per stage, does not reorder: a hit).
    on_disk = _train(streamed, ArrayStore(tmp_path / "cache", max_bytes=100))
    keras.utils.set_random_seed(7)
    again = _train(streamed, ArrayStore(tmp_path / "cache", max_bytes=100))
    assert [on_disk.stages[0].feature_cache, again.stages[0].feature_cache] == ["miss", "hit"]
    assert len(list((tmp_path / "cache").glob("*.mapped.json"))) == 1
    # The same batches as in memory: losses within float16's rounding, the same accuracies.
    expected = in_memory.stages[0].history
    for name, values in on_disk.stages[0].history.items():
        tolerance = 1e-4 if "loss" in name else 0.0
        np.testing.assert_allclose(values, expected[name], rtol=0, atol=tolerance)
    assert again.stages[0].history == on_disk.stages[0].history


def test_an_augmented_stream_is_not_cached(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits")
    flip = [{"_target_": "keras.layers.RandomFlip", "mode": "horizontal"}]
    data = load_image_folder(folder, image_shape=SHAPE, batch_size=4, augmentation=flip)
    assert isinstance(data, Pipelines) and data.frozen is None
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, 3)
    (plan,) = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", (HEAD,)))
    apply_plan(model, backbone, plan, "frozen")
    # Random per epoch below the cut: the reason is the status.
    assert split_at_cut(model, backbone, plan, "frozen", data) == (
        "data is an augmented tf.data pipeline (random below the cut)"
    )
