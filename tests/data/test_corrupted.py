"""`data=digits_corrupted`: the backbone's own classes, held out of pretraining, corrupted."""

from __future__ import annotations

import numpy as np
import pytest

from freezesweep.data import source_task
from freezesweep.data.corrupt import CORRUPTIONS, corrupt, corrupted_task
from freezesweep.errors import ConfigError
from freezesweep.spec._types import CORRUPTIONS as SPEC_CORRUPTIONS
from tests.spec.test_read import _spec


def test_the_reader_and_the_data_know_the_same_corruptions() -> None:
    # The config reader validates names without importing the data code; both lists agree.
    assert (
        tuple(CORRUPTIONS) == SPEC_CORRUPTIONS == ("gaussian_noise", "blur", "invert", "contrast")
    )


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_deterministic_and_changes_the_pixels(name: str) -> None:
    task = corrupted_task(name, severity=3, train_per_class=4, seed=0)
    again = corrupted_task(name, severity=3, train_per_class=4, seed=0)
    # Same arguments, same pixels and labels (seeded, no global random state).
    assert np.array_equal(task.x_train, again.x_train) and np.array_equal(task.x_val, again.x_val)
    # The backbone's five classes, few training images each, the rest of 100 per class validate.
    assert task.num_classes == 5
    assert np.bincount(task.y_train).tolist() == [4] * 5
    assert np.bincount(task.y_val).tolist() == [96] * 5
    assert task.x_train.dtype == np.float32 and task.x_train.shape[1:] == (28, 28, 1)
    assert task.x_val.min() >= 0 and task.x_val.max() <= 255


def test_the_pool_is_what_pretraining_held_out() -> None:
    # Inverting is pixel-wise, so each corrupted image maps back to its clean one: all of them
    # are validation images of `source_task` (never trained on by `freezesweep pretrain`).
    task = corrupted_task("invert", train_per_class=4)
    held_out = {image.tobytes() for image in source_task().x_val}
    restored = np.concatenate([255.0 - task.x_train, 255.0 - task.x_val]).astype("float32")
    assert len(restored) == 500
    assert all(image.tobytes() in held_out for image in restored)


def test_corruptions_change_pixels_and_severity_scales_them() -> None:
    images = source_task().x_val[:20]
    for name in CORRUPTIONS:
        # A corruption that left the images unchanged would be no shift at all.
        assert not np.allclose(corrupt(images, name), images), name
    mild = np.abs(corrupt(images, "gaussian_noise", severity=1) - images).mean()
    strong = np.abs(corrupt(images, "gaussian_noise", severity=5) - images).mean()
    assert strong > mild
    # The noise is fixed by its seed; another seed draws other noise.
    assert np.array_equal(
        corrupt(images, "gaussian_noise", seed=1), corrupt(images, "gaussian_noise", seed=1)
    )
    assert not np.array_equal(
        corrupt(images, "gaussian_noise", seed=1), corrupt(images, "gaussian_noise", seed=2)
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ("data=digits_corrupted", "data.corruption=fog"),
            "data.corruption must be one of gaussian_noise, blur, invert, contrast; got 'fog'.",
        ),
        (
            ("data=digits_corrupted", "data.corruption=null"),
            "data.corruption must be one of gaussian_noise, blur, invert, contrast; got None.",
        ),
        (("data=digits_corrupted", "data.severity=0"), "data.severity must be >= 1; got 0."),
        (
            ("data=digits_corrupted", "data.severity=6"),
            "data.severity must be between 1 and 5; got 6.",
        ),
    ],
)
def test_bad_corruption_fails_naming_the_key(overrides: tuple[str, ...], message: str) -> None:
    # Rejected by the config reader, before any data is loaded or any run exists.
    with pytest.raises(ConfigError) as caught:
        _spec(*overrides)
    assert str(caught.value) == message


def test_digits_corrupted_reads_into_the_data_spec() -> None:
    data = _spec("data=digits_corrupted", "data.corruption=invert").data
    assert (data.kind, data.corruption, data.severity) == ("digits_corrupted", "invert", 3)
    # The digits task carries no corruption.
    assert _spec().data.corruption is None
