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
