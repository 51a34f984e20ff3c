"""The sampler of a sweep: built from its `_target_` spec (a grid from `params`), checked early."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler

from freezesweep import targets

_GRID = "optuna.samplers.GridSampler"


def build_sampler(
    spec: Mapping[str, Any],
    seed: int | None,
    search_space: Mapping[str, BaseDistribution] | None = None,
) -> BaseSampler:
    """Instantiates the sampler `_target_` spec, with `seed` when one is given.

    Args:
        spec: an `optuna.samplers.*` `_target_` mapping, without `seed`.
        seed: the sampler's seed, or None for an unseeded sampler.
        search_space: the parsed `params`; a GridSampler's grid is made of their values
            (as Hydra's Optuna sweeper does). Defaults to `None` (an empty grid).

    Raises:
        ValueError: a target outside `optuna.samplers`, or a non-discrete grid distribution.
    """
    _check_targets(spec)
    overrides: dict[str, Any] = {} if seed is None else {"seed": seed}
    if spec.get("_target_") == _GRID and "search_space" not in spec:
        overrides["search_space"] = {
            key: grid_values(key, distribution)
            for key, distribution in (search_space or {}).items()
        }
    sampler = instantiate(dict(spec), **overrides)
    if not isinstance(sampler, BaseSampler):
        raise ValueError(f"hydra.sweeper.sampler: {spec.get('_target_')} is not an optuna sampler.")
    return sampler


def check_grid(spec: Mapping[str, Any], search_space: Mapping[str, BaseDistribution]) -> None:
    """For a GridSampler spec, a ValueError naming the first `params` key a grid cannot hold."""
    if spec.get("_target_") == _GRID and "search_space" not in spec:
        for key, distribution in search_space.items():
            grid_values(key, distribution)


def grid_values(key: str, distribution: BaseDistribution) -> list[Any]:
    """Every value of a discrete distribution, for GridSampler; a ValueError naming `key` else."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        count = round((distribution.high - distribution.low) / distribution.step) + 1
        return [distribution.low + index * distribution.step for index in range(count)]
    raise ValueError(
        f"hydra.sweeper.params.{key}: the grid sampler needs choice() or range(), not "
        f"{distribution}."
    )


def _check_targets(spec: Mapping[str, Any]) -> None:
    """Every `_target_` Hydra's `instantiate` would build, at any depth (a sampler's
    `_args_`, a list of them), before it builds any."""
    key = "hydra.sweeper.sampler"
    targets.check_target(
        spec.get("_target_"), key=f"{key}._target_", allowed=targets.OPTUNA_SAMPLERS
    )
    targets.check_tree(spec, key=key, allowed=targets.OPTUNA_SAMPLERS)


def check_sampler(spec: dict[str, Any]) -> None:
    """A ValueError naming `hydra.sweeper.sampler` when the spec cannot build a sampler."""
    try:
        with warnings.catch_warnings():  # The real build warns once; this is only a check.
            warnings.simplefilter("ignore")
            build_sampler(spec, seed=None)
    except ValueError:
        raise
    except Exception as error:  # Hydra wraps import and argument errors in its own type.
        raise ValueError(f"hydra.sweeper.sampler: {error}") from error
