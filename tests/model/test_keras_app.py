"""`backbone=keras_app`: any keras.applications architecture, offline weights, its preprocessing."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.data import Dataset, fit_images, target_task
from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.model.keras_app import build_application, preprocessing
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.train.schedule import run_schedule
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

# One real fit per architecture: MobileNetV3Small in the default tier, the others in the `slow`
# tier that CI runs as its own step. Each at the smallest input it accepts.
DEFAULT_TIER = ["MobileNetV3Small"]
SLOW = [
    "MobileNetV2",
    "MobileNetV3Large",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "EfficientNetB3",
    "ResNet50",
    "ResNet50V2",
    "ConvNeXtTiny",
    "DenseNet121",
    "VGG16",
    "Xception",
]
INPUT_SIZE = {"Xception": 71}
KERAS_APP = ["backbone=keras_app", "backbone.weights=null", "backbone.input_size=32"]


def random_rows(size: int, rows: int = 8) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2 * rows, size, size, 3)).astype("float32")
    y = np.arange(2 * rows) % 3
    return Dataset(x[:rows], y[:rows], x[rows:], y[rows:], 3)


@pytest.mark.parametrize(
    "name", [*DEFAULT_TIER, *(pytest.param(name, marks=pytest.mark.slow) for name in SLOW)]
)
def test_top_blocks_train_and_the_audit_passes(name: str) -> None:
    size = INPUT_SIZE.get(name, 32)
    backbone = build_application(name, input_shape=(size, size, 3))
    model = attach_head(backbone, 3)
    stages = (
        StageSpec(name="head", unfreeze="none", epochs=1, learning_rate=1e-2),
        StageSpec(name="top2", unfreeze=2, epochs=1, learning_rate=1e-3),
    )
    head, top2 = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", stages))
    # The top-2 stage trains two whole blocks more than the head alone.
    assert len(top2.units) == 2 and top2.trainable_params > head.trainable_params
    # One real fit, of the stage that unfreezes blocks (the head-only stage is the same
    # mechanism with an empty window, covered on the embedded backbone).
    (audit,) = run_schedule(
        model, backbone, [top2], random_rows(size), batch_size=8, verbose=0
    ).audits
    # Keras's counts equal the plan, and together they are every parameter of the model.
    assert (audit.actual_trainable, audit.actual_non_trainable) == (
        top2.trainable_params,
        top2.non_trainable_params,
    )
    assert audit.actual_trainable + audit.actual_non_trainable == model.count_params()
    # Frozen weights are bit-identical after a real fit; trained ones moved.
    assert audit.digests_after == audit.digests_before
    assert audit.passed and audit.changed_trainable > 0


@pytest.mark.slow
def test_a_real_trial_on_digits_resized_to_rgb_is_tracked(tmp_path: Path) -> None:
    value = run_trial(compose_config(tmp_path, *KERAS_APP, "backbone.name=MobileNetV3Small"))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # The 28x28 gray digits were fitted to the 32x32 RGB backbone and the trial trained.
    assert run.data.metrics["val_accuracy"] == pytest.approx(value)
    assert run.data.params["backbone.name"] == "MobileNetV3Small"
    # Backend, device, precision and jit setting are logged with the run.
    assert run.data.tags["freezesweep.backend"] == keras.backend.backend()
    assert run.data.tags["freezesweep.device"] == "cpu"
    assert run.data.tags["freezesweep.precision"] == "float32"
    assert run.data.tags["freezesweep.jit_compile"] == "auto"


def test_imagenet_weights_missing_offline_fail_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    overrides = ["backbone=keras_app", "backbone.name=MobileNetV2", "backbone.input_size=96"]
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *overrides))
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    folder = tmp_path / "empty-keras-home" / "models"
    # The message names the file, Keras's cache folder, where to get it, and the other way.
    assert str(caught.value) == (
        f"backbone.weights=imagenet needs {name}, which is not in Keras's cache ({folder}/), and "
        f"freezesweep never downloads during a trial. Download it once from "
        f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name} and "
        f"copy it into {folder}/ (or set KERAS_HOME), or set backbone.weights=/path/to/{name}."
    )
    # Nothing was tracked.
    assert not (tmp_path / "mlruns").exists()


def test_a_corrupt_cached_file_is_refused_not_downloaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "keras-home"
    name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    (home / "models").mkdir(parents=True)
    (home / "models" / name).write_bytes(b"truncated download")
    monkeypatch.setenv("KERAS_HOME", str(home))
    # The file in $KERAS_HOME/models is found, its hash checked, and it is refused.
    with pytest.raises(ConfigError, match=r"^backbone\.weights=imagenet: .* is corrupt"):
        build_application("MobileNetV3Small", weights="imagenet", input_shape=(224, 224, 3))


def test_a_local_weights_file_is_loaded(tmp_path: Path) -> None:
    source = build_application("MobileNetV3Small", input_shape=(32, 32, 3))
    path = tmp_path / "small.weights.h5"
    source.save_weights(path)
    keras.backend.clear_session()
    loaded = build_application("MobileNetV3Small", weights=str(path), input_shape=(32, 32, 3))
    # backbone.weights=PATH gives exactly the weights in the file.
    for mine, theirs in zip(loaded.weights, source.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs)
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["backbone.name=ResNet51"],
            "backbone.name must be a keras.applications architecture (e.g. MobileNetV3Small, "
            "ResNet50, EfficientNetB0); got 'ResNet51'.",
        ),
        (
            ["backbone.name=resnet50"],
            "backbone.name must be a keras.applications architecture (e.g. MobileNetV3Small, "
            "ResNet50, EfficientNetB0); got 'resnet50'.",
        ),
        (
            ["backbone.weights=/nowhere/w.h5"],
            "backbone.weights must be imagenet, null or the path of a weights file; "
            "'/nowhere/w.h5' is not a file.",
        ),
        (["backbone.pooling=sum"], "backbone.pooling must be one of avg, max, null; got 'sum'."),
        (["backbone.input_size=0"], "backbone.input_size must be >= 1; got 0."),
    ],
)
def test_bad_keras_app_settings_name_the_key(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, "backbone=keras_app", *overrides))
    assert str(caught.value) == message


def test_a_shape_the_architecture_refuses_names_the_backbone(tmp_path: Path) -> None:
    # Xception needs at least 71 px: Keras's own reason, prefixed with the setting.
    with pytest.raises(ConfigError, match=r"^backbone: cannot build Xception with input_shape"):
        run_trial(compose_config(tmp_path, *KERAS_APP, "backbone.name=Xception"))


def test_gray_images_become_rgb_at_the_backbone_size() -> None:
    digits = target_task(train_per_class=2).x_train
    fitted = fit_images(digits, (32, 32, 3))
    # 28x28x1 digits become 32x32x3 with three identical channels, values still in [0, 255].
    assert fitted.shape == (len(digits), 32, 32, 3)
    assert np.array_equal(fitted[..., 0], fitted[..., 2])
    assert fitted.min() >= 0 and fitted.max() <= 255
    # RGB to gray is not guessed.
    with pytest.raises(ConfigError) as caught:
        fit_images(np.zeros((2, 8, 8, 3)), (8, 8, 1))
    assert str(caught.value) == (
        "data: images have 3 channel(s) but the backbone expects 1; only gray to RGB (1 -> 3) "
        "is converted."
    )


def test_preprocessing_is_the_architectures_own() -> None:
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    # ResNet50 uses caffe mode (BGR, mean subtracted); the input array is left untouched.
    expected = keras.applications.resnet50.preprocess_input(images.copy())
    np.testing.assert_allclose(preprocessing("ResNet50")(images), expected)
    # MobileNetV2 maps [0, 255] to [-1, 1].
    assert preprocessing("MobileNetV2")(np.array([[[[0.0, 127.5, 255.0]]]])).tolist() == [
        [[[-1.0, 0.0, 1.0]]]
    ]
    # Architectures that rescale inside the model get the identity.
    np.testing.assert_array_equal(preprocessing("EfficientNetB0")(images), images)
