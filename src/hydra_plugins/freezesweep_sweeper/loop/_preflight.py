"""Everything checked before the study exists, so a bad sweep fails without leaving anything.

The search space is parsed, the enqueued sets and a grid sampler's grid checked, one job
composed per sample point (a key the config lacks fails here), the storage reached, the user's
`preflight` hook run on the composed jobs, a resumed study's definition compared with this one,
and the `warm_start` studies read and checked against this space: all before the study, the
sweep folder, its `multirun.yaml` or any run is created.

Sample points: every fixed override is in every job, so one job checks them all; a searched
parameter is checked at the values that can go wrong: each choice of a categorical, both ends of
a range. The enqueued sets are points of their own. The other parameters stay at their first
value, so the number of compositions grows with the sum of the choices, never their product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hydra.core.config_loader import ConfigLoader
from omegaconf import DictConfig
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from freezesweep.disk import refuse_link
from freezesweep.study.report import refuse_report_links
from freezesweep.study.storage import check_storage
from freezesweep.study.warm_start import WarmSource, WarmStart, read_sources

from ..definition._fingerprint import reconcile, sweep_definition
from ..definition._grammar import SearchSpace, check_enqueued, parse_search_space
from ..definition._sampler import check_grid
from ..definition._settings import Settings
from ..jobs._overrides import job_overrides, move_sweep

__all__ = ["Prepared", "preflight", "sample_points"]


@dataclass(frozen=True)
class Prepared:
    """What the preflight settled: the settings to sweep with (a new study's name), the search
    space, the sweep's definition (for its study), the sweep folder and the warm-start trials."""

    settings: Settings
    space: SearchSpace
    definition: dict[str, Any]
    sweep_dir: Path
    warm_start: tuple[WarmStart, ...] = ()


def preflight(
    settings: Settings,
    config: DictConfig,
    config_loader: ConfigLoader,
    arguments: Sequence[str],
    job_fixed: Sequence[str] = (),
) -> Prepared:
    """Checks the sweep before anything exists; returns what the sweep runs with.

    Args:
        settings: the sweeper's settings.
        config: the sweep's config (its `hydra.sweep.dir` may move, see `move_sweep`).
        config_loader: Hydra's config loader, to compose the sample jobs.
        arguments: the command-line overrides.
        job_fixed: overrides every job gets besides the space's. Defaults to `()`.

    Raises:
        ValueError: naming the key, for anything wrong with the sweep.
    """
    # Before the storage is reached (a SQLite storage's folder is made then).
    _refuse_links(Path(str(config.hydra.sweep.dir)))
    space = parse_search_space(
        settings.params, arguments, job_config=config, config_loader=config_loader
    )
    space = replace(space, fixed_overrides=(*space.fixed_overrides, *job_fixed))
    check_enqueued(
        settings.enqueue,
        space.distributions,
        custom_keys_allowed=settings.custom_search_space is not None,
    )
    check_grid(settings.sampler, space.distributions)
    jobs = [
        config_loader.load_sweep_config(config, job_overrides(settings, point, 0, space))
        for point in sample_points(space.distributions, settings.enqueue)
    ]
    check_storage(settings.storage)
    if settings.preflight is not None:
        settings.preflight(config=config, jobs=jobs)
    # A resumed study must be the same sweep: refused (or moved to a new study) here.
    definition = sweep_definition(settings, space.distributions, jobs[0] if jobs else None)
    resolved = reconcile(settings, definition, Path(str(config.hydra.sweep.dir)))
    if resolved.settings is not settings:  # on_definition_change=new_study
        space = move_sweep(config, space, resolved.sweep_dir)
        _refuse_links(resolved.sweep_dir)
    final = resolved.settings
    warm = read_sources(
        final.warm_start,
        space.distributions,
        directions=final.directions,
        objectives=final.objectives,
        budgets=final.constraints,
        own=WarmSource(final.study_name, final.storage),
    )
    return Prepared(final, space, definition, resolved.sweep_dir, tuple(warm))


def _refuse_links(sweep_dir: Path) -> None:
    """What the sweep writes in its folder is never written through a symbolic link: its files,
    the report, the feature cache's folder and the trials' folders (which Hydra makes)."""
    for name in ("multirun.yaml", "optimization_results.yaml", "cache"):
        refuse_link(sweep_dir / name, f"the sweep's {name}", "hydra.sweep.dir")
    refuse_report_links(sweep_dir / "report")
    for folder in sorted(sweep_dir.glob("trial-*")):
        refuse_link(folder, "a trial's folder", "hydra.sweep.dir")


def sample_points(
    distributions: Mapping[str, BaseDistribution], enqueue: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The distinct points to compose: each choice and range end once, then the enqueued sets.

    Args:
        distributions: the searched parameters by override key.
        enqueue: the `hydra.sweeper.enqueue` sets. Defaults to `()`.

    Example:

        >>> from optuna.distributions import IntDistribution
        >>> sample_points({"finetune.top_k": IntDistribution(0, 4)})
        [{'finetune.top_k': 0}, {'finetune.top_k': 4}]
    """
    base = {key: _values(distribution)[0] for key, distribution in distributions.items()}
    points = [base]
    for key, distribution in distributions.items():
        points += [{**base, key: value} for value in _values(distribution)[1:]]
    points += [{**base, **dict(params)} for params in enqueue]
    distinct: list[dict[str, Any]] = []
    for point in points:
        if point not in distinct:
            distinct.append(point)
    return distinct


def _values(distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    assert isinstance(distribution, IntDistribution | FloatDistribution)
    ends = [distribution.low, distribution.high]
    return ends[:1] if distribution.low == distribution.high else ends
