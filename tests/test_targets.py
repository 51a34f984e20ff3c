"""Tests for freezesweep.targets: the allow-listed resolver of `_target_` strings."""

from __future__ import annotations

import sys

import keras
import pytest

from freezesweep import targets
from freezesweep.errors import ConfigError


def test_allowed_targets_resolve() -> None:
    assert targets.resolve("keras.layers.Dense", key="k", allowed=targets.KERAS_LAYERS) is (
        keras.layers.Dense
    )


@pytest.mark.parametrize(
    "target",
    [
        "os.system",
        "subprocess.run",
        "builtins.eval",
        "keras.layers.os.system",  # a submodule path, not an attribute of the allowed module
        "keras.layers._private",
        "keras.layers",
        "",
        None,
        42,
    ],
)
def test_other_targets_are_refused_without_importing(target: object) -> None:
    with pytest.raises(ConfigError) as error:
        targets.resolve(target, key="data.augmentation.0._target_", allowed=targets.KERAS_LAYERS)
    assert str(error.value) == (
        f"data.augmentation.0._target_ must name one of keras.layers.*; got {target!r}."
    )


def test_a_refused_module_is_never_imported() -> None:
    name = "freezesweep_never_imported_module"
    with pytest.raises(ConfigError):
        targets.resolve(f"{name}.run", key="k", allowed=targets.KERAS_LAYERS)
    # The check runs on the string alone.
    assert name not in sys.modules


def test_a_missing_attribute_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        targets.resolve("keras.layers.NoSuchLayer", key="k", allowed=targets.KERAS_LAYERS)
    assert str(error.value) == "k 'keras.layers.NoSuchLayer' cannot be imported."
