"""The space a replayed strategy searches, and the grid point that answers each suggestion.

By default the space is the table's (`space_from_table`): integers as a range, positive floats
spanning a decade or more as a log interval (as the default sweep searches the LR), anything
else as a choice. `--space sweep` takes the strategy's own `params` instead (a live sweep's
space, e.g. to prove a replay faithful). A suggestion off the grid snaps to the nearest recorded
value (in log space for a log distribution).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable

from ..definition._grammar import parse_search_space

# Samplers that need a discrete space: for them a table's floats stay a choice.
DISCRETE_SAMPLERS = ("optuna.samplers.GridSampler", "optuna.samplers.BruteForceSampler")


def space_from_table(table: GridTable, *, discrete: bool = False) -> dict[str, BaseDistribution]:
    """The table's keys as distributions (see the module docstring).

    Args:
        table: the recorded grid.
        discrete: every float as a choice of its recorded values (grid samplers).
            Defaults to `False`.
    """
    space: dict[str, BaseDistribution] = {}
    for key in table.keys:
        values = table.values(key)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values) and (
            values == list(range(values[0], values[-1] + 1))
        ):
            space[key] = IntDistribution(values[0], values[-1])
        elif (
            not discrete
            and all(isinstance(v, float) and v > 0 for v in values)
            and values[-1] >= 10 * values[0]
        ):
            space[key] = FloatDistribution(values[0], values[-1], log=True)
        else:
            space[key] = CategoricalDistribution(values)
    return space


def space_from_sweep(params: Mapping[str, str], table: GridTable) -> dict[str, BaseDistribution]:
    """The strategy's `params` parsed as a live sweep parses them; every key must be a table key.

    Raises:
        ConfigError: naming a key the table does not hold, or a table key the sweep lacks.
    """
    try:
        space = parse_search_space(params).distributions
    except ValueError as error:
        raise ConfigError(str(error)) from error
    for key in space:
        if key not in table.keys:
            raise ConfigError(f"hydra.sweeper.params.{key}: the table has no column for it.")
    for key in table.keys:
        if key not in space:
            raise ConfigError(f"the table's key {key} is not in hydra.sweeper.params.")
    return space


def snap(
    params: Mapping[str, Any], space: Mapping[str, BaseDistribution], table: GridTable
) -> dict[str, Any]:
    """The recorded values nearest to `params` (each key on its own).

    Raises:
        ConfigError: a categorical value the table never recorded.
    """
    snapped: dict[str, Any] = {}
    for key, value in params.items():
        recorded = table.values(key)
        if value in recorded:
            snapped[key] = value
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} is not in the table ({recorded}).")
        numbers = [v for v in recorded if isinstance(v, int | float)]
        log = bool(getattr(space.get(key), "log", False)) and value > 0
        snapped[key] = min(numbers, key=partial(_distance, value=float(value), log=log))
    return snapped


def _distance(recorded: float, *, value: float, log: bool) -> float:
    if log and recorded > 0:
        return abs(math.log(recorded) - math.log(value))
    return abs(recorded - value)
