"""Value checks shared by the config readers: each raises one `ConfigError` naming the key."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from freezesweep.errors import ConfigError


def setting(node: Any, name: str, key: str) -> Any:
    """`node[name]`, a setting every shipped config carries: its default is written once, in
    `conf/`, and a config without it fails here naming the key.

    Args:
        node: the config section (a `DictConfig` or a mapping).
        name: the setting's name in the section.
        key: its full dotted key, for the message.

    Raises:
        ConfigError: the section has no such setting.
    """
    require(name in node, f"{key} is missing; the project's conf/ sets it (e.g. {key}=...).")
    return node[name]


def default_of(spec_type: type, name: str) -> Any:
    """The default of a spec field: where a setting a config may leave out has its default.

    Args:
        spec_type: a spec dataclass, e.g. `TrackingSpec`.
        name: the field.
    """
    field = next(field for field in dataclasses.fields(spec_type) if field.name == name)
    assert field.default is not dataclasses.MISSING, f"{spec_type.__name__}.{name} has no default"
    return field.default


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def positive_number(value: Any, key: str) -> float:
    require(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"{key} must be a number; got {value!r}.",
    )
    number = float(value)
    require(math.isfinite(number) and number > 0, f"{key} must be > 0; got {value}.")
    return number


def non_negative_number(value: Any, key: str) -> float:
    require(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"{key} must be a number; got {value!r}.",
    )
    number = float(value)
    require(math.isfinite(number) and number >= 0, f"{key} must be >= 0; got {value}.")
    return number


def integer(value: Any, key: str, minimum: int) -> int:
    require(
        isinstance(value, int) and not isinstance(value, bool),
        f"{key} must be an integer; got {value!r}.",
    )
    require(value >= minimum, f"{key} must be >= {minimum}; got {value}.")
    return int(value)


def choice(value: Any, key: str, allowed: tuple[str, ...]) -> Any:
    require(value in allowed, f"{key} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def str_keys(mapping: dict[Any, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in mapping.items()}


def decay(value: Any, key: str) -> float:
    """A layer-wise learning-rate decay factor in (0, 1]."""
    require(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"{key} must be a number in (0, 1]; got {value!r}.",
    )
    number = float(value)
    require(0 < number <= 1, f"{key} must be in (0, 1]; got {value}.")
    return number
