"""The embedded backbone: shipped file matches its pinned hash, loads safely, reproduces."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from freezesweep.errors import ConfigError
from freezesweep.model.backbone import (
    check_backbone_file,
    default_backbone_path,
    file_sha256,
    load_backbone,
    truncate,
)
from freezesweep.model.units import find_units
from freezesweep.pretrain import pretrain_backbone
from tests.helpers.shrink import CONF


def test_shipped_backbone_matches_the_pinned_hash() -> None:
    pinned = yaml.safe_load((CONF / "backbone" / "digits.yaml").read_text())["sha256"]
    # The file that ships with the package is the one the config pins.
    assert file_sha256(default_backbone_path()) == pinned
    backbone = load_backbone(default_backbone_path(), pinned)
    # Four blocks, each with BatchNormalization.
    blocks = find_units(backbone, "block")
    assert [unit.name for unit in blocks] == ["block1", "block2", "block3", "block4"]
    assert all(
        any(isinstance(layer, keras.layers.BatchNormalization) for layer in unit.layers)
        for unit in blocks
    )


def test_hash_mismatch_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^backbone\.sha256 does not match .*: expected 00, file has [0-9a-f]{64}\.$",
    ):
        check_backbone_file(default_backbone_path(), "00")


def test_unsafe_models_are_refused(tmp_path: Path) -> None:
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    # A Python lambda needs unsafe deserialization: refused, naming the key.
    with pytest.raises(ConfigError, match=r"^backbone\.path: cannot load .* in safe mode"):
        load_backbone(path)


@pytest.mark.slow
def test_pretrain_is_byte_reproducible(tmp_path: Path) -> None:
    first, first_hash, _ = pretrain_backbone(tmp_path / "a.keras", epochs=1, verbose=0)
    second, second_hash, _ = pretrain_backbone(tmp_path / "b.keras", epochs=1, verbose=0)
    # Same command, same bytes: the shipped hash can be reproduced.
    assert first_hash == second_hash == file_sha256(first) == file_sha256(second)
    # The result loads in safe mode as a 4-block backbone.
    assert len(find_units(load_backbone(first, first_hash), "block")) == 4


def _classifier_file(tmp_path: Path) -> Path:
    """A whole classifier saved as .keras: the digits backbone with its own old head."""
    backbone = load_backbone(default_backbone_path())
    features = keras.layers.GlobalAveragePooling2D(name="old_pool")(backbone.output)
    outputs = keras.layers.Dense(5, activation="softmax", name="old_head")(features)
    path = tmp_path / "classifier.keras"
    keras.Model(backbone.input, outputs, name="classifier").save(path)
    return path


def test_head_attaches_to_the_configured_feature_layer(tmp_path: Path) -> None:
    from freezesweep.trial import run_trial
    from tests.helpers.shrink import compose_config

    path = _classifier_file(tmp_path)
    cfg = compose_config(
        tmp_path,
        "backbone=file",
        f"backbone.path={path}",
        "backbone.feature_layer=block4_relu2",
        "tracking.enabled=false",
        "finetune.top_k=4",
    )
    # The old classifier is cut off at block4_relu2: all 4 blocks are still units to unfreeze.
    value = run_trial(cfg)
    assert 0.0 <= value <= 1.0  # type: ignore[operator]
    cut = truncate(load_backbone(path), "block4_relu2")
    assert cut.layers[-1].name == "block4_relu2"
    assert "old_head" not in [layer.name for layer in cut.layers]
    assert [unit.name for unit in find_units(cut, "block")] == [f"block{i}" for i in range(1, 5)]


def test_unknown_feature_layer_names_the_key(tmp_path: Path) -> None:
    from freezesweep.trial import run_trial
    from tests.helpers.shrink import compose_config

    path = _classifier_file(tmp_path)
    cfg = compose_config(
        tmp_path, "backbone=file", f"backbone.path={path}", "backbone.feature_layer=block9_relu"
    )
    with pytest.raises(ConfigError) as caught:
        run_trial(cfg)
    # The key, the model and its top layers are named; nothing reached MLflow.
    assert str(caught.value) == (
        "backbone.feature_layer: backbone 'classifier' has no layer 'block9_relu'; its last "
        "layers are block4_conv2, block4_bn2, block4_relu2, old_pool, old_head."
    )
    assert not (tmp_path / "mlruns").exists()


def _forge_sizes(path: Path, size: int) -> None:
    """Rewrite every member's declared uncompressed size in a zip's headers."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            data[start + offset : start + offset + 4] = size.to_bytes(4, "little")
            start += 4
    path.write_bytes(bytes(data))


def test_damaged_and_forged_archives_are_refused_before_keras_reads_them(tmp_path: Path) -> None:
    good = default_backbone_path().read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good[: len(good) // 2])
    noise = tmp_path / "noise.keras"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    not_a_model = tmp_path / "other.keras"
    with zipfile.ZipFile(not_a_model, "w") as archive:
        archive.writestr("readme.txt", "hello")
    forged = tmp_path / "forged.keras"
    forged.write_bytes(good)
    _forge_sizes(forged, 0xFFFFFFF0)
    cases = {
        truncated: f"backbone.path: {truncated} is not a valid .keras archive (corrupt file?).",
        noise: f"backbone.path: {noise} is not a valid .keras archive (corrupt file?).",
        not_a_model: (
            f"backbone.path: {not_a_model} is not a Keras model archive "
            "(no config.json, model.weights.h5)."
        ),
    }
    for path, message in cases.items():
        # One typed error naming the file; never a zipfile or h5py traceback.
        with pytest.raises(ConfigError) as caught:
            load_backbone(path)
        assert str(caught.value) == message
    with pytest.raises(ConfigError) as caught:
        load_backbone(forged)
    # Declared sizes are judged before anything is unpacked.
    assert str(caught.value).startswith(f"backbone.path: {forged} declares ")
    assert str(caught.value).endswith("refused as a forged or damaged archive.")
