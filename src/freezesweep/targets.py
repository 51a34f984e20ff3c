"""The one resolver of `_target_` strings the project imports itself, behind an allow-list.

Hydra's `instantiate` refuses some targets; a hand-written `importlib` call refuses none, so a
config file could otherwise reach `os.system`. Every `_target_` that freezesweep turns into an
object (optimizers, augmentation layers, callbacks, pruners, samplers) comes through `resolve`,
which accepts only `module.Name` where `module` is one of the allowed modules and `Name` a public
attribute of it, and checks that before anything is imported.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

from freezesweep.errors import ConfigError

__all__ = [
    "KERAS_CALLBACKS",
    "KERAS_LAYERS",
    "KERAS_OPTIMIZERS",
    "OPTUNA_PRUNERS",
    "OPTUNA_SAMPLERS",
    "check_target",
    "resolve",
]

KERAS_LAYERS = ("keras.layers",)
KERAS_OPTIMIZERS = ("keras.optimizers",)
KERAS_CALLBACKS = ("keras.callbacks",)
OPTUNA_SAMPLERS = ("optuna.samplers",)
OPTUNA_PRUNERS = ("optuna.pruners",)

_PUBLIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_target(target: Any, *, key: str, allowed: Sequence[str]) -> str:
    """Refuse, without importing anything, a target outside the allowed modules.

    Args:
        target: the `_target_` value, e.g. `"keras.optimizers.Adam"`. No default.
        key: the config key named in the error (`schedule.stages.1.optimizer._target_`).
            No default.
        allowed: module names whose public attributes may be targets (exact modules, not
            their submodules). No default.

    Returns:
        The target as a string.

    Raises:
        ConfigError: the target is not `module.Name` with `module` in `allowed`.
    """
    text = str(target) if isinstance(target, str) else ""
    module, _, name = text.rpartition(".")
    if module not in allowed or not _PUBLIC_NAME.match(name):
        choices = ", ".join(f"{module}.*" for module in allowed)
        raise ConfigError(f"{key} must name one of {choices}; got {target!r}.")
    return text


def resolve(target: Any, *, key: str, allowed: Sequence[str]) -> Any:
    """The object a `_target_` names, after `check_target`.

    Args:
        target: the `_target_` value. No default.
        key: the config key named in errors. No default.
        allowed: the allowed modules (see `check_target`). No default.

    Raises:
        ConfigError: not allowed, or the module has no such attribute.
    """
    text = check_target(target, key=key, allowed=allowed)
    module, _, name = text.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"{key} {text!r} cannot be imported.") from error
