"""The one resolver of `_target_` strings the project imports itself, behind an allow-list.

Hydra's `instantiate` refuses some targets; a hand-written `importlib` call refuses none, so a
config file could otherwise reach `os.system`. Every `_target_` that freezesweep turns into an
object (optimizers, augmentation layers, callbacks, pruners, samplers) comes through `resolve`,
which accepts only `module.Name` where `module` is one of the allowed modules and `Name` a public
attribute of it, and checks that before anything is imported.

The user adds modules of their own with the top-level `allowed_targets` list (read by
`freezesweep.spec.read` and by the sweeper, through `allow_modules`); a standard-library module is
never accepted there, so no config can reach `os`, `subprocess` or `builtins`.

Of the built-in modules only classes may be named (`keras.layers.deserialize` would build any
layer from a dict, outside the checks), and never a class that loads or runs code or graphs kept
outside the config (`DENIED`: `keras.layers.TFSMLayer` runs a SavedModel's graph on every batch).
`check_tree` applies the same rule to every `_target_` nested in a spec, at any depth, in
mappings and lists alike, before anything of the spec is built.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from freezesweep.errors import ConfigError

__all__ = [
    "DENIED",
    "KERAS_APPLICATIONS",
    "KERAS_CALLBACKS",
    "KERAS_LAYERS",
    "KERAS_OPTIMIZERS",
    "OPTUNA_PRUNERS",
    "OPTUNA_SAMPLERS",
    "allow_modules",
    "allowed_modules",
    "check_target",
    "check_tree",
    "resolve",
]

KERAS_APPLICATIONS = ("keras.applications",)
KERAS_LAYERS = ("keras.layers",)
KERAS_OPTIMIZERS = ("keras.optimizers",)
KERAS_CALLBACKS = ("keras.callbacks",)
OPTUNA_SAMPLERS = ("optuna.samplers",)
OPTUNA_PRUNERS = ("optuna.pruners",)
# Where only classes (CamelCase names) may be targets: the modules' functions (`deserialize`,
# `get`) build objects from dicts past every check here.
_CLASSES_ONLY = (
    *KERAS_APPLICATIONS,
    *KERAS_LAYERS,
    *KERAS_OPTIMIZERS,
    *KERAS_CALLBACKS,
    *OPTUNA_SAMPLERS,
    *OPTUNA_PRUNERS,
)
# Never a target, whatever the allow-list: layers that load and run a stored graph or program
# (TFSMLayer: a SavedModel), or wrap code of their own (Lambda, JaxLayer, FlaxLayer,
# TorchModuleWrapper). Checked in Keras 3.15.1's `keras.layers`.
DENIED = frozenset(
    {
        "keras.layers.FlaxLayer",
        "keras.layers.JaxLayer",
        "keras.layers.Lambda",
        "keras.layers.TFSMLayer",
        "keras.layers.TorchModuleWrapper",
    }
)

_PUBLIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# The modules of `allowed_targets`, set from the config of this process's trial or sweep.
_user_modules: tuple[str, ...] = ()


def allow_modules(modules: Any, *, key: str = "allowed_targets") -> tuple[str, ...]:
    """Sets the user's modules whose public attributes may also be targets (replacing any
    earlier list), after checking their names.

    Args:
        modules: the `allowed_targets` list, e.g. `["mypkg.layers"]`; `None` is empty.
        key: the config key named in errors. Defaults to `"allowed_targets"`.

    Returns:
        The modules, as a tuple.

    Raises:
        ConfigError: not a list of dotted module names, or a standard-library module.
    """
    global _user_modules
    items = [] if modules is None else modules
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ConfigError(f"{key} must be a list of module names; got {modules!r}.")
    checked = []
    for index, module in enumerate(items):
        if not isinstance(module, str) or not _MODULE_NAME.match(module):
            raise ConfigError(f"{key}.{index} must be a dotted module name; got {module!r}.")
        if module.split(".")[0] in sys.stdlib_module_names:
            raise ConfigError(
                f"{key}.{index} must be a module of your own, not the standard library's; "
                f"got {module!r}."
            )
        checked.append(module)
    _user_modules = tuple(checked)
    return _user_modules


def allowed_modules(allowed: Sequence[str]) -> tuple[str, ...]:
    """`allowed` plus the user's modules (see `allow_modules`)."""
    return (*allowed, *(module for module in _user_modules if module not in allowed))


def check_target(target: Any, *, key: str, allowed: Sequence[str]) -> str:
    """Refuse, without importing anything, a target outside the allowed modules.

    Args:
        target: the `_target_` value, e.g. `"keras.optimizers.Adam"`.
        key: the config key named in the error (`schedule.stages.1.optimizer._target_`).
        allowed: module names whose public attributes may be targets (exact modules, not
            their submodules); the user's `allowed_targets` are added.

    Returns:
        The target as a string.

    Raises:
        ConfigError: the target is not `module.Name` with `module` in `allowed`.
    """
    allowed = allowed_modules(allowed)
    text = str(target) if isinstance(target, str) else ""
    module, _, name = text.rpartition(".")
    if module not in allowed or not _PUBLIC_NAME.match(name):
        choices = ", ".join(f"{module}.*" for module in allowed)
        raise ConfigError(f"{key} must name one of {choices}; got {target!r}.")
    if text in DENIED:
        raise ConfigError(
            f"{key} must not name {target!r}: it loads or runs code or graphs from outside the "
            f"config (never allowed: {', '.join(sorted(DENIED))})."
        )
    if module in _CLASSES_ONLY and not name[0].isupper():
        raise ConfigError(
            f"{key} must name a class of {module}, not one of its functions; got {target!r}."
        )
    return text


def check_tree(spec: Any, *, key: str, allowed: Sequence[str]) -> None:
    """`check_target` on every `_target_` in `spec`, at any depth, in mappings and lists alike
    (Hydra's `instantiate` builds them all, `_args_` included), before anything is imported.

    Args:
        spec: a `_target_` mapping, or any plain value holding them.
        key: the config key of `spec`, named in errors (`hydra.sweeper.sampler`); `""` names
            the nested keys alone (`_target_`, `wrapped_pruner._target_`).
        allowed: the allowed modules (see `check_target`).

    Raises:
        ConfigError: the first target outside the allow-list, by its full key.
    """
    prefix = f"{key}." if key else ""
    if isinstance(spec, Mapping):
        if "_target_" in spec:
            check_target(spec["_target_"], key=f"{prefix}_target_", allowed=allowed)
        for name, value in spec.items():
            if name != "_target_":
                check_tree(value, key=f"{prefix}{name}", allowed=allowed)
    elif isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
        for index, value in enumerate(spec):
            check_tree(value, key=f"{prefix}{index}", allowed=allowed)


def resolve(target: Any, *, key: str, allowed: Sequence[str]) -> Any:
    """The object a `_target_` names, after `check_target`.

    Args:
        target: the `_target_` value.
        key: the config key named in errors.
        allowed: the allowed modules (see `check_target`).

    Raises:
        ConfigError: not allowed, or the module has no such attribute.
    """
    text = check_target(target, key=key, allowed=allowed)
    module, _, name = text.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"{key} {text!r} cannot be imported.") from error
