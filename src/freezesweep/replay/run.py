"""Replaying strategies over seeds against one table, and the result `--json` writes.

The result: `{"default": NAME, "grid_best": …, "grid_points": N, "strategies": {NAME:
{"to_answer_s": {"median", "min", "max", "reached"}, "to_1pp_s": {…}, "seeds": N, "trials":
{…}, "snapped": K, "overrides": […]}}}`; the anytime curves come back beside it for the plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freezesweep.replay import answer
from freezesweep.replay.table import GridTable


@dataclass
class ReplayResult:
    """What replaying every strategy gave.

    Args:
        summary: the JSON-ready result (see the module docstring).
        curves: per strategy, each seed's anytime curve `[(seconds, best so far), …]`.
    """

    summary: dict[str, Any]
    curves: dict[str, list[list[tuple[float, float]]]] = field(default_factory=dict)


def replay_strategies(
    table: GridTable,
    strategies: Mapping[str, Sequence[str]],
    config_dir: Path,
    *,
    seeds: int,
    default: str,
    space_from: str = "table",
    max_trials: int | None = None,
    until_answer: bool = True,
    warm: WarmTable | None = None,
) -> ReplayResult:
    """Replay each strategy `seeds` times (seeds 0, 1, …) against `table`.

    Args:
        table: the recorded grid.
        strategies: name -> overrides of the project's sweep.
        config_dir: the project's Hydra config folder.
        seeds: the seeds per strategy.
        default: the strategy the others are compared with.
        space_from: `"table"` (the table's space) or `"sweep"` (each strategy's `params`).
            Defaults to `"table"`.
        max_trials: the most trials per seed. Defaults to twice the table's points.
        until_answer: stop a seed once it has the answer (0.5 pp). Defaults to `True`.
        warm: another task's table: each strategy is also replayed as `<name>+warm`,
            warm-started from its own seeded sweep on that table. Defaults to `None`.

    Raises:
        ConfigError: a strategy that does not compose, or a trial the table cannot answer.
    """
    from hydra_plugins.freezesweep_sweeper.replay import _engine, _space, _strategy

    grid_best = table.best.value
    to_answer, to_close = answer.targets(grid_best)
    fill = _head(table)
    limit = max_trials or 2 * len(table.points)
    result = ReplayResult({"default": default, "grid_best": grid_best, "strategies": {}})
    result.summary["grid_points"] = len(table.points)
    for name, overrides in strategies.items():
        strategy = _strategy.compose_strategy(name, overrides, config_dir, fill)
        space = _pick_space(_space, table, strategy, space_from)
        stop_at = to_answer if until_answer else None
        variants: dict[str, list[tuple[Any, ...]]] = {name: [()] * seeds}
        if warm is not None:
            earlier = _strategy.compose_strategy(name, overrides, config_dir, _head(warm.table))
            variants[f"{name}+warm"] = [
                _earlier_trials(warm, earlier, strategy, space, seed, space_from)
                for seed in range(seeds)
            ]
        for label, starts in variants.items():
            runs = [
                _engine.replay_once(
                    table, strategy, space, seed, n_trials=limit, stop_at=stop_at, warm=start
                )
                for seed, start in enumerate(starts)
            ]
            _summarize(result, label, strategy, runs, (to_answer, to_close))
    return result


def _summarize(
    result: ReplayResult, name: str, strategy: Any, runs: list[Any], targets: tuple[float, float]
) -> None:
    """One strategy's line of the result: compute to the answer and to 1 pp over the seeds."""
    to_answer, to_close = targets
    seeds = len(runs)
    result.curves[name] = [answer.anytime(steps) for steps in runs]
    result.summary["strategies"][name] = {
        "to_answer_s": answer.spread([answer.compute_to(s, to_answer) for s in runs]),
        "to_1pp_s": answer.spread([answer.compute_to(s, to_close) for s in runs]),
        "seeds": seeds,
        "trials": answer.spread([float(len(steps)) for steps in runs]),
        "snapped": sum(step.snapped for steps in runs for step in steps),
        "overrides": list(strategy.overrides),
    }


@dataclass(frozen=True)
class WarmTable:
    """`--warm-start`: another task's table, whose replayed sweep warm-starts each strategy.

    Args:
        table: the earlier task's recorded grid (the same space).
        label: its study's name in messages (the file's stem).
        where: the file, for messages.
    """

    table: GridTable
    label: str
    where: str


def _earlier_trials(
    warm: WarmTable, earlier: Any, strategy: Any, space: Any, seed: int, space_from: str
) -> tuple[Any, ...]:
    """The trials an earlier sweep left: the strategy replayed on the warm table with this seed
    for its `n_trials`, carried into this space by the warm-start rule (`study.warm_start`)."""
    from freezesweep.study.warm_start import WarmSource, carry
    from hydra_plugins.freezesweep_sweeper.replay import _engine, _space

    own_space = _pick_space(_space, warm.table, earlier, space_from)
    n_trials = earlier.settings.n_trials
    _, study = _engine.replay_study(warm.table, earlier, own_space, seed, n_trials=n_trials)
    settings = strategy.settings
    start = carry(
        WarmSource(warm.label, warm.where),
        study,
        space,
        directions=settings.directions,
        objectives=settings.objectives,
        budgets=settings.constraints,
        key="--warm-start",
    )
    return start.trials


def _head(table: GridTable) -> dict[str, int]:
    """`{"head_epochs": N}`: the table's first stage's epochs (the pruner's warm-up)."""
    return {"head_epochs": table.points[0].stage_epochs[0] if table.points[0].stage_epochs else 0}


def _pick_space(module: Any, table: GridTable, strategy: Any, space_from: str) -> Any:
    if space_from == "sweep":
        return module.space_from_sweep(strategy.settings.params, table)
    discrete = strategy.settings.sampler.get("_target_") in module.DISCRETE_SAMPLERS
    return module.space_from_table(table, discrete=discrete)
