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


@pytest.fixture
def no_user_modules() -> object:
    yield None
    targets.allow_modules([])


def test_user_modules_join_the_allow_list(no_user_modules: object) -> None:
    # A module listed in allowed_targets is accepted next to the built-in ones, and named.
    assert targets.allow_modules(["tests.test_targets"]) == ("tests.test_targets",)
    assert targets.resolve("tests.test_targets.ConfigError", key="k", allowed=[]) is ConfigError
    with pytest.raises(ConfigError) as error:
        targets.check_target("os.system", key="k", allowed=targets.KERAS_LAYERS)
    assert str(error.value) == (
        "k must name one of keras.layers.*, tests.test_targets.*; got 'os.system'."
    )


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        (
            ["os"],
            "allowed_targets.0 must be a module of your own, not the standard library's; got 'os'.",
        ),
        (
            ["mypkg", "subprocess"],
            "allowed_targets.1 must be a module of your own, not the "
            "standard library's; got 'subprocess'.",
        ),
        (
            ["os.path"],
            "allowed_targets.0 must be a module of your own, not the standard "
            "library's; got 'os.path'.",
        ),
        (["my pkg"], "allowed_targets.0 must be a dotted module name; got 'my pkg'."),
        ("mypkg", "allowed_targets must be a list of module names; got 'mypkg'."),
    ],
)
def test_allowed_targets_refuses_the_standard_library_and_bad_names(
    no_user_modules: object, modules: object, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        targets.allow_modules(modules)
    assert str(error.value) == message
    # A refused list leaves the allow-list as it was.
    assert targets.allowed_modules(()) == ()


@pytest.mark.parametrize(
    "target",
    [
        "keras.layers.TFSMLayer",  # loads a SavedModel and runs its graph on every batch
        "keras.layers.Lambda",
        "keras.layers.JaxLayer",
        "keras.layers.FlaxLayer",
        "keras.layers.TorchModuleWrapper",
    ],
)
def test_layers_that_load_or_run_stored_code_are_never_allowed(
    target: str, no_user_modules: object
) -> None:
    # Not even when the user allows keras.layers again: the deny-list is by name.
    targets.allow_modules(["keras.layers"])
    with pytest.raises(ConfigError) as error:
        targets.resolve(target, key="data.augmentation.0._target_", allowed=targets.KERAS_LAYERS)
    assert str(error.value) == (
        f"data.augmentation.0._target_ must not name {target!r}: it loads or runs code or graphs "
        "from outside the config (never allowed: keras.layers.FlaxLayer, keras.layers.JaxLayer, "
        "keras.layers.Lambda, keras.layers.TFSMLayer, keras.layers.TorchModuleWrapper)."
    )


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        # Functions build whatever a dict names, past the allow-list (`safe_mode=False` too).
        ("keras.layers.deserialize", targets.KERAS_LAYERS),
        ("keras.layers.serialize", targets.KERAS_LAYERS),
        ("keras.layers.add", targets.KERAS_LAYERS),
        ("keras.optimizers.get", targets.KERAS_OPTIMIZERS),
        ("keras.optimizers.deserialize", targets.KERAS_OPTIMIZERS),
        ("keras.callbacks.keras", targets.KERAS_CALLBACKS),
        ("optuna.pruners.optuna", targets.OPTUNA_PRUNERS),
    ],
)
def test_only_classes_of_the_built_in_modules_are_targets(
    target: str, allowed: tuple[str, ...]
) -> None:
    module = target.rpartition(".")[0]
    with pytest.raises(ConfigError) as error:
        targets.check_target(target, key="k", allowed=allowed)
    assert str(error.value) == (
        f"k must name a class of {module}, not one of its functions; got {target!r}."
    )


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        # Two levels down in a sampler's positional arguments: Hydra would build it.
        ({"_target_": "optuna.samplers.TPESampler", "_args_": [[{"_target_": "numpy.load"}]]},
         "s._args_.0.0._target_"),
        ({"_target_": "optuna.samplers.TPESampler", "x": {"y": {"_target_": "numpy.load"}}},
         "s.x.y._target_"),
        ({"_target_": "optuna.samplers.TPESampler", "x": [1, "a", {"_target_": "numpy.load"}]},
         "s.x.2._target_"),
        ([{"_target_": "numpy.load"}], "s.0._target_"),
        ({"_target_": "numpy.load"}, "s._target_"),
    ],
)  # fmt: skip
def test_a_target_nested_at_any_depth_is_checked_without_importing(spec: object, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        targets.check_tree(spec, key="s", allowed=targets.OPTUNA_SAMPLERS)
    assert str(error.value) == f"{key} must name one of optuna.samplers.*; got 'numpy.load'."


def test_a_tree_of_allowed_targets_passes() -> None:
    spec = {
        "_target_": "optuna.samplers.PartialFixedSampler",
        "fixed_params": {"x": 1},
        "base_sampler": {"_target_": "optuna.samplers.TPESampler", "seed": 0},
        "_args_": [[1, 2], "text"],
    }
    targets.check_tree(spec, key="s", allowed=targets.OPTUNA_SAMPLERS)
