"""Datasets: the embedded A/B split, and `.npz` files with clear errors for bad arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from freezesweep.data import load_npz, source_task, target_task
from freezesweep.errors import ConfigError
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config


def test_task_a_and_task_b_are_disjoint_digit_classes() -> None:
    source, target = source_task(), target_task(train_per_class=20)
    # Five classes each, relabelled 0-4; the target split is small and stratified.
    assert source.num_classes == target.num_classes == 5
    assert np.bincount(target.y_train).tolist() == [20] * 5
    assert len(target.y_val) == 2500 - 100
    # The split is fixed by its own seed.
    again = target_task(train_per_class=20)
    assert np.array_equal(target.x_train, again.x_train)


def test_val_per_class_takes_the_same_validation_digits_for_every_training_size() -> None:
    full = target_task(train_per_class=20)
    few = target_task(train_per_class=20, val_per_class=30)
    assert np.bincount(few.y_val).tolist() == [30] * 5
    assert np.array_equal(few.x_train, full.x_train)
    # A subset of the full validation split, and never a training image.
    full_rows = {row.tobytes() for row in full.x_val}
    assert all(row.tobytes() in full_rows for row in few.x_val)
    more = target_task(train_per_class=40, val_per_class=30)
    assert len(more.y_val) == 150 and len(more.y_train) == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "data.val_per_class must be >= 1; got 0."),
        (
            "481",
            "data.val_per_class must be at most 480 (500 digits per class, 20 train); got 481.",
        ),
    ],
)
def test_val_per_class_is_checked_before_anything_trains(
    tmp_path: Path, value: str, message: str
) -> None:
    from freezesweep.spec.read import trial_spec

    config = compose_config(tmp_path, "data.train_per_class=20", f"data.val_per_class={value}")
    with pytest.raises(ConfigError) as error:
        trial_spec(config)
    assert str(error.value) == message


def _write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _digits_npz(path: Path) -> Path:
    task = target_task(train_per_class=5)
    # Images without the channel axis, as many datasets store grayscale.
    return _write(
        path,
        x_train=task.x_train[..., 0],
        y_train=task.y_train,
        x_val=task.x_val[:200, ..., 0],
        y_val=task.y_val[:200],
    )


def test_a_real_trial_runs_on_an_npz_file(tmp_path: Path) -> None:
    path = _digits_npz(tmp_path / "digits.npz")
    value = run_trial(
        compose_config(tmp_path, "data=npz", f"data.path={path}", "tracking.enabled=false")
    )
    # The trial trains and returns an accuracy.
    assert isinstance(value, float) and 0.0 <= value <= 1.0


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"x_train": np.zeros((4, 28, 28)), "y_train": np.array([0, 1, 0, 1])},
            "lacks array(s) x_val, y_val.",
        ),
        (
            {
                "x_train": np.zeros((4, 28, 28)),
                "y_train": np.array([0, 1, 0]),
                "x_val": np.zeros((2, 28, 28)),
                "y_val": np.array([0, 1]),
            },
            "x_train has 4 rows but y_train has 3",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([0, 1]),
                "x_val": np.zeros((2, 32, 32)),
                "y_val": np.array([0, 1]),
            },
            "x_train images are (28, 28) but x_val images are (32, 32)",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([0.5, 1.0]),
                "x_val": np.zeros((2, 28, 28)),
                "y_val": np.array([0, 1]),
            },
            "y_train must be a 1-D array of integer class ids >= 0",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([0, 0]),
                "x_val": np.zeros((2, 28, 28)),
                "y_val": np.array([0, 0]),
            },
            "has fewer than 2 classes.",
        ),
        (
            {
                "x_train": np.array([[[np.nan]], [[0.0]]]),
                "y_train": np.array([0, 1]),
                "x_val": np.zeros((2, 1, 1)),
                "y_val": np.array([0, 1]),
            },
            "x_train has 1 non-finite value(s) (NaN or Inf) in ",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([0, 1]),
                "x_val": np.zeros((2, 28, 28)),
                "y_val": np.array([1, 999]),
            },
            "y_val has label(s) 999 that y_train lacks in ",
        ),
        (
            {
                "x_train": np.zeros((0, 28, 28)),
                "y_train": np.zeros(0, dtype=int),
                "x_val": np.zeros((2, 28, 28)),
                "y_val": np.array([0, 1]),
            },
            "x_train is empty in ",
        ),
        (
            {
                "x_train": np.zeros((2, 28, 28)),
                "y_train": np.array([0, 1]),
                "x_val": np.zeros((0, 28, 28)),
                "y_val": np.zeros(0, dtype=int),
            },
            "x_val is empty in ",
        ),
    ],
)
def test_bad_arrays_name_data_path(tmp_path: Path, arrays: dict, message: str) -> None:
    path = _write(tmp_path / "bad.npz", **arrays)
    # One clear error naming data.path and what is wrong.
    with pytest.raises(ConfigError) as caught:
        load_npz(str(path))
    assert str(caught.value).startswith("data.path: ")
    assert message in str(caught.value)


def test_a_file_that_is_not_an_npz_archive_is_named_as_such(tmp_path: Path) -> None:
    # A text file named .npz is not "pickled data": the message says what the file is not.
    path = tmp_path / "notes.npz"
    path.write_text("x_train,y_train\n")
    with pytest.raises(ConfigError) as caught:
        load_npz(str(path))
    assert str(caught.value) == f"data.path: {path} is not a .npz file (a NumPy zip archive)."


def test_images_that_do_not_fit_the_backbone_fail_before_tracking(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "rgb.npz",
        x_train=np.zeros((4, 32, 32, 3)),
        y_train=np.array([0, 1, 0, 1]),
        x_val=np.zeros((2, 32, 32, 3)),
        y_val=np.array([0, 1]),
    )
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, "data=npz", f"data.path={path}"))
    # The shapes are named, and nothing reached MLflow.
    assert str(caught.value) == (
        "data: images are (32, 32, 3) but the backbone expects (28, 28, 1)."
    )
    assert not (tmp_path / "mlruns").exists()


def test_npz_needs_a_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.path is required when data\.kind=npz\.$"):
        run_trial(compose_config(tmp_path, "data=npz"))
