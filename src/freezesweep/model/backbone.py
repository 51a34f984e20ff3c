"""Backbones and the full model: the embedded digits backbone, `.keras` files, and the head.

The backbone is always a nested Functional model inside the full model, so the freezing code can
tell backbone layers from head layers, and so the backbone can be called with `training=False`
(BatchNormalization in inference mode) under the `frozen` BN policy.
"""

from __future__ import annotations

import hashlib
import zipfile
from importlib import resources
from pathlib import Path

import keras

from freezesweep.errors import ConfigError

DEFAULT_BACKBONE_FILE = "digits_backbone.keras"
BLOCK_FILTERS = (16, 32, 64, 64)


def default_backbone_path() -> Path:
    """Path of the pretrained backbone that ships inside the package."""
    return Path(str(resources.files("freezesweep") / "assets" / DEFAULT_BACKBONE_FILE))


def build_digits_backbone(input_shape: tuple[int, int, int] = (28, 28, 1)) -> keras.Model:
    """The embedded backbone: four conv blocks (conv-BN-ReLU twice), named `block{i}_*`.

    Args:
        input_shape: image shape. Defaults to `(28, 28, 1)`.

    Returns:
        An untrained Functional model that outputs the last feature map.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for index, filters in enumerate(BLOCK_FILTERS, start=1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, name=f"block{index}_conv{conv}"
            )(x)
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"block{index}_bn{conv}")(x)
            x = keras.layers.ReLU(name=f"block{index}_relu{conv}")(x)
        if index < len(BLOCK_FILTERS):
            x = keras.layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    return keras.Model(inputs, x, name="digits_backbone")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_backbone_file(path: Path, expected_sha256: str | None) -> None:
    """Fail before anything trains if a backbone file is missing, unsafe, corrupt or altered.

    Args:
        path: the `.keras` file.
        expected_sha256: the hash it must have, or `None` to skip the check.

    Raises:
        ValueError: naming `backbone.path` or `backbone.sha256`.
    """
    if not path.is_file():
        raise ConfigError(f"backbone.path: file not found: {path}.")
    if path.suffix != ".keras":
        raise ConfigError(
            f"backbone.path must be a .keras file (legacy .h5 files are refused: they cannot be "
            f"loaded in safe mode); got {path}."
        )
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256.lower():
            raise ConfigError(
                f"backbone.sha256 does not match {path}: expected {expected_sha256}, "
                f"file has {actual}."
            )
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"backbone.path: {path} is not a valid .keras archive (corrupt file?).")
    _check_archive(path)


# A .keras archive holds config.json, metadata.json and model.weights.h5. Declared sizes are checked
# before Keras reads anything, so a forged archive cannot make it allocate without bound.
_KERAS_MEMBERS = ("config.json", "model.weights.h5")
_MAX_CONFIG_BYTES = 64 << 20
_MAX_EXPANSION = 1000  # uncompressed / compressed; real weights compress far less than this


def _check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ConfigError(
            f"backbone.path: {path} is not a valid .keras archive ({error})."
        ) from None
    missing = [name for name in _KERAS_MEMBERS if name not in members]
    if missing:
        raise ConfigError(
            f"backbone.path: {path} is not a Keras model archive (no {', '.join(missing)})."
        )
    declared = sum(info.file_size for info in members.values())
    packed = sum(info.compress_size for info in members.values())
    if members["config.json"].file_size > _MAX_CONFIG_BYTES or declared > _MAX_EXPANSION * max(
        packed, 1
    ):
        raise ConfigError(
            f"backbone.path: {path} declares {declared:,} bytes unpacked from {packed:,} "
            "packed; refused as a forged or damaged archive."
        )


def load_backbone(path: Path, expected_sha256: str | None = None) -> keras.Model:
    """Load a backbone from a `.keras` file in safe mode, after checking it.

    Args:
        path: the `.keras` file.
        expected_sha256: the hash it must have. Defaults to `None` (no check).

    Returns:
        The backbone, with its pretrained weights.
    """
    check_backbone_file(path, expected_sha256)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for damaged or unsafe archives.
        raise ConfigError(f"backbone.path: cannot load {path} in safe mode: {error}") from error
    if not isinstance(model, keras.Model):
        raise ConfigError(f"backbone.path: {path} does not hold a Keras model.")
    return model


def truncate(backbone: keras.Model, layer_name: str) -> keras.Model:
    """The backbone up to one of its layers: the head attaches to that layer's output.

    Args:
        backbone: a Functional backbone.
        layer_name: the name of a top-level layer of the backbone.

    Returns:
        A Functional model sharing the backbone's layers and weights; layers above are dropped.

    Raises:
        ConfigError: naming `backbone.feature_layer` when the layer does not exist or has no
            single output.
    """
    names = [layer.name for layer in backbone.layers]
    if layer_name not in names:
        raise ConfigError(
            f"backbone.feature_layer: backbone {backbone.name!r} has no layer {layer_name!r}; "
            f"its last layers are {', '.join(names[-5:])}."
        )
    try:
        output = backbone.get_layer(layer_name).output
    except (AttributeError, ValueError) as error:  # shared layers have several outputs
        raise ConfigError(
            f"backbone.feature_layer: layer {layer_name!r} has no single output: {error}"
        ) from error
    return keras.Model(backbone.inputs, output, name=backbone.name)


def attach_head(
    backbone: keras.Model,
    num_classes: int,
    *,
    dropout: float = 0.2,
    backbone_training: bool | None = False,
) -> keras.Model:
    """Put a classification head on a backbone, keeping the backbone a nested layer.

    Args:
        backbone: the feature extractor.
        num_classes: outputs of the softmax layer.
        dropout: dropout rate before the classifier. Defaults to `0.2`.
        backbone_training: `False` runs the backbone in inference mode (frozen BN);
            `None` lets `fit` train its BN layers. Defaults to `False`.

    Returns:
        The full Functional model `image -> backbone -> pool -> dropout -> classifier`.
    """
    inputs = keras.Input(shape=backbone.input_shape[1:], name="input")
    features = backbone(inputs, training=backbone_training)
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    if dropout > 0:
        features = keras.layers.Dropout(dropout, name="head_dropout")(features)
    # float32 even under a mixed-precision policy: a float16 softmax loses small probabilities.
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", name="head_classifier", dtype="float32"
    )(features)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")
