"""Zoo models: converted once from the installed weights into a cached `.keras` file, then reused.

The cache is `$FREEZESWEEP_ZOO_CACHE`, else `$XDG_CACHE_HOME/freezesweep/zoo`, else
`~/.cache/freezesweep/zoo`. Per backbone it holds `NAME.keras` (the ImageNet model at its training
resolution, with its preprocessing and 1000-class head) and `NAME.json`: the SHA-256 of the source
`.pth` it was converted from and of the `.keras` file itself. A record that no longer matches
(other weights installed, a damaged or altered cache file) means convert again; the `.keras` file
is always loaded with `safe_mode=True`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keras

from freezesweep.errors import ConfigError, WeightFileError
from freezesweep.model import backbone as backbones
from freezesweep.model import units as units_module
from freezesweep.model.zoo import ZOO, entry, source_path
from freezesweep.model.zoo import _efficientnet_lite as lite
from freezesweep.model.zoo._torch_pickle import read_state_dict

# Bump when the conversion changes: older cache files are converted again.
CONVERTER_VERSION = 1
CACHE_ENV = "FREEZESWEEP_ZOO_CACHE"


def cache_dir() -> Path:
    """Where converted zoo models are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "freezesweep" / "zoo"


def convert(name: str) -> keras.Model:
    """The ImageNet model converted from the installed state_dict, without the cache.

    Raises:
        ConfigError: unknown name or weights not installed.
        WeightFileError: the `.pth` is unsafe, damaged, or of another architecture.
    """
    item = entry(name)
    path = source_path(name)
    state = read_state_dict(path)
    model = lite.build(item)
    try:
        lite.load_state_dict(model, state)
    except WeightFileError as error:
        raise WeightFileError(f"{path}: {error}") from None
    return model


def _record(name: str, source_sha256: str, keras_sha256: str | None) -> dict[str, object]:
    return {
        "name": name,
        "converter": CONVERTER_VERSION,
        "source_sha256": source_sha256,
        "keras_sha256": keras_sha256,
    }


def imagenet_model(name: str) -> keras.Model:
    """The ImageNet model of a zoo backbone, from the cache (converted and cached on first use).

    Args:
        name: a zoo name, e.g. `"efficientnet_lite0"`.

    Returns:
        The Functional model from RGB images in [0, 255] to 1000 ImageNet probabilities.
    """
    source_sha256 = backbones.file_sha256(source_path(name))
    folder = cache_dir()
    model_file, record_file = folder / f"{name}.keras", folder / f"{name}.json"
    if model_file.is_file() and record_file.is_file():
        try:
            recorded = json.loads(record_file.read_text())
        except (OSError, ValueError):
            recorded = None
        if recorded == _record(name, source_sha256, backbones.file_sha256(model_file)):
            return backbones.load_backbone(model_file, str(recorded["keras_sha256"]))
    model = convert(name)
    # Written beside, then renamed (never through a symlink): concurrent workers never read a
    # half-written file, and a record that ends up naming another worker's file only means one
    # more conversion later.
    partial = folder / f".{name}.{os.getpid()}.keras"
    partial_record = folder / f".{name}.{os.getpid()}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        model.save(partial)
        record = _record(name, source_sha256, backbones.file_sha256(partial))
        partial_record.write_text(json.dumps(record, indent=1) + "\n")
        partial.replace(model_file)
        partial_record.replace(record_file)
    except OSError as error:
        for leftover in (partial, partial_record):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise ConfigError(
            f"{CACHE_ENV}: cannot write the converted {name} into {folder}: {error}."
        ) from None
    return model


def build_backbone(name: str, input_size: int) -> keras.Model:
    """A zoo backbone without its ImageNet head, at any input size, with the ImageNet weights.

    Args:
        name: a zoo name.
        input_size: height and width of the RGB input (values in [0, 255]).

    Returns:
        The Functional backbone whose output is the last feature map (`top_relu`).
    """
    item = entry(name)
    reference = imagenet_model(name)
    backbone = lite.build(item, input_size=input_size, include_top=False)
    # Padding depends on the input size, weights do not: copied layer by layer by name.
    for layer in backbone.layers:
        if layer.weights:
            layer.set_weights(reference.get_layer(layer.name).get_weights())
    return backbone


def export(name: str, output: Path) -> Path:
    """Write the ImageNet model (preprocessing and 1000-class head inside) as a `.keras` file.

    Raises:
        ConfigError: the output is not a `.keras` path, or cannot be written.
    """
    entry(name, key="NAME")
    if output.suffix != ".keras":
        raise ConfigError(f"--out must end in .keras; got {output}.")
    model = imagenet_model(name)
    try:
        model.save(output)
    except OSError as error:
        raise ConfigError(f"--out: cannot write {output}: {error}.") from None
    return output


def describe() -> list[dict[str, object]]:
    """Name, resolution, parameter count and block units of every zoo backbone (untrained
    architectures: nothing is read or converted)."""
    rows = []
    for name, item in ZOO.items():
        backbone = lite.build(item, include_top=False)
        units = units_module.find_units(backbone, "block")
        rows.append(
            {
                "name": name,
                "resolution": item.resolution,
                # The backbone and the 1280 -> 1000 ImageNet classifier.
                "params": backbone.count_params() + 1281 * 1000,
                "blocks": sum(unit.is_block for unit in units),
                "units": [unit.name for unit in units],
                "weights": item.package.replace("_", "-"),
            }
        )
    return rows
