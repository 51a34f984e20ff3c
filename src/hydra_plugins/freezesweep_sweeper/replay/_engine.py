"""One seeded replay of a strategy against a recorded grid, as the live sweep would run it.

The study is in memory; the sampler, pruner and enqueued sets are built exactly as
`trials._shared_study.open_study` builds them for the first invocation on a fresh storage, so
replay seed `s` asks what a live sweep with `hydra.sweeper.seed: s` asks. Each trial is answered
from the table: its curve is reported epoch by epoch as the job's `PruningCallback` reports it
(no pruning question before the pruner's warm-up), and it costs the table's seconds up to the
epoch it stopped at.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable
from freezesweep.study.pruning import pruner_from_spec

from ..definition._sampler import build_sampler
from ..trials._outcomes import Outcome, SearchSpaceExhausted, tell
from ..trials._shared_study import derive_seed
from ._space import snap
from ._strategy import Strategy

# The worker identity of the first invocation on a fresh storage (`register_worker` -> 0).
FIRST_WORKER = "registered=0"


@dataclass(frozen=True)
class Step:
    """One replayed trial.

    Args:
        number: the trial's number.
        asked: what the sampler suggested.
        point: the recorded point that answered it (the suggestion snapped to the grid).
        state: `COMPLETE` or `PRUNED`.
        value: the final value, or the last reported one when pruned.
        epochs: the epochs it trained.
        seconds: what those epochs cost in the table.
    """

    number: int
    asked: dict[str, Any]
    point: dict[str, Any]
    state: str
    value: float
    epochs: int
    seconds: float

    @property
    def snapped(self) -> bool:
        """The suggestion was off the grid."""
        return self.asked != self.point


def replay_once(
    table: GridTable,
    strategy: Strategy,
    space: Mapping[str, BaseDistribution],
    seed: int,
    *,
    n_trials: int,
    stop_at: float | None = None,
    warm: Sequence[FrozenTrial] = (),
) -> list[Step]:
    """Run `strategy` for `n_trials` trials (or until a value reaches `stop_at`).

    Args:
        table: the recorded grid that answers every trial.
        strategy: the sampler, pruner and enqueued sets.
        space: the distributions asked for.
        seed: the base seed (as `hydra.sweeper.seed`).
        n_trials: the most trials to run.
        stop_at: stop once a COMPLETE trial's value is at least this. Defaults to `None`.
        warm: warm-start trials (`study.warm_start.carry`), copied in first as the sweeper
            does; never counted toward `n_trials`, never a step. Defaults to none.

    Raises:
        ConfigError: the table cannot answer a trial (no such point, or a pruned curve too short).
    """
    return replay_study(
        table, strategy, space, seed, n_trials=n_trials, stop_at=stop_at, warm=warm
    )[0]


def replay_study(
    table: GridTable,
    strategy: Strategy,
    space: Mapping[str, BaseDistribution],
    seed: int,
    *,
    n_trials: int,
    stop_at: float | None = None,
    warm: Sequence[FrozenTrial] = (),
) -> tuple[list[Step], optuna.Study]:
    """`replay_once`, and the in-memory study it ran (an earlier study to warm-start from)."""
    settings = strategy.settings
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per in-memory study is noise
    with warnings.catch_warnings():  # Optuna's experimental-feature warnings, once per seed.
        warnings.simplefilter("ignore")
        study = optuna.create_study(
            study_name=settings.study_name,
            directions=settings.directions,
            pruner=pruner_from_spec(settings.pruner),
            sampler=build_sampler(
                settings.sampler, derive_seed(seed, FIRST_WORKER, 0), dict(space)
            ),
        )
        study.add_trials(warm)  # as the sweeper: before the enqueued sets, seed unchanged
        for params in settings.enqueue:
            study.enqueue_trial(params)
        first_prunable = compat.pruner_warmup_steps(study.pruner)
        steps: list[Step] = []
        visits: dict[str, int] = {}
        while len(steps) < n_trials:
            try:
                step = _one(study, table, space, first_prunable, visits)
            except _Exhausted as done:  # a grid sampler's last point: the live sweep ends too
                steps.append(done.step)
                break
            steps.append(step)
            if stop_at is not None and step.state == "COMPLETE" and step.value >= stop_at:
                break
    return steps, study


def _one(
    study: optuna.Study,
    table: GridTable,
    space: Mapping[str, BaseDistribution],
    first_prunable: int,
    visits: dict[str, int],
) -> Step:
    trial = study.ask(dict(space))
    asked = dict(trial.params)
    point_params = snap(asked, space, table)
    visit = repr(sorted(point_params.items()))
    point = table.point(point_params, visits.get(visit, 0))
    visits[visit] = visits.get(visit, 0) + 1
    if point is None:
        raise ConfigError(f"the table has no point {point_params} (asked {asked}).")
    for epoch, value in enumerate(point.curve):
        trial.report(value, epoch)
        if epoch >= first_prunable and trial.should_prune():
            seconds = point.seconds_until(epoch + 1)
            step = Step(trial.number, asked, point_params, "PRUNED", value, epoch + 1, seconds)
            return _told(study, trial, Outcome(TrialState.PRUNED), step)
    if point.state != "COMPLETE" or not math.isfinite(point.value):
        raise ConfigError(
            f"the table's point {point_params} was pruned after {len(point.curve)} epochs; "
            "this strategy trains it further (record the full grid)."
        )
    epochs = len(point.curve)
    step = Step(trial.number, asked, point_params, "COMPLETE", point.value, epochs, point.seconds)
    return _told(study, trial, Outcome(TrialState.COMPLETE, [point.value]), step)


class _Exhausted(Exception):
    """The sampler has asked every point; `step` was told all the same."""

    def __init__(self, step: Step) -> None:
        super().__init__(f"search space exhausted at trial {step.number}")
        self.step = step


def _told(study: optuna.Study, trial: optuna.Trial, outcome: Outcome, step: Step) -> Step:
    """Tell the outcome as the sweeper tells it (`trials._outcomes.tell`)."""
    try:
        tell(study, trial, outcome)
    except SearchSpaceExhausted as error:
        raise _Exhausted(step) from error
    return step
