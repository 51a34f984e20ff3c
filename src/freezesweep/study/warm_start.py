"""Warm start: the finished trials of earlier studies, given to a new study's sampler.

`hydra.sweeper.warm_start` names earlier studies. Before anything exists each is read and checked
(`read_sources`, `carry`); when the study is opened their trials are copied in with
`Study.add_trials` (`add_warm_start`), so every sampler ranks them as its own. Each copy carries
the system attr `WARM_START_ATTR`: `study.own_trials` leaves it out of everything else.

The rule for spaces: the earlier study must have the sweep's directions (and objective names,
where both have them) and have searched every parameter of the sweep's space with the same kind
of distribution, or the sweep is refused. Of its COMPLETE trials and its PRUNED ones with
per-epoch values, those whose values lie inside this space are carried (their other parameters
dropped), the others skipped and counted. Details: docs/sweeps.md, "Warm start".

Optuna only: no Hydra, no MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.errors import ConfigError
from freezesweep.redaction import redact
from freezesweep.study.attributes import (
    TRAINABLE_PARAMS_ATTR,
    WARM_START_ATTR,
    WARM_START_FROM_ATTR,
    WARM_STARTED_ATTR,
)
from freezesweep.study.own_trials import own_trials
from freezesweep.study.storage import load_existing_study
from freezesweep.study.summary import describe

__all__ = [
    "WarmSource",
    "WarmStart",
    "add_warm_start",
    "carry",
    "read_sources",
    "warm_start_params",
    "warm_start_text",
]

KEY = "hydra.sweeper.warm_start"


@dataclass(frozen=True)
class WarmSource:
    """One `hydra.sweeper.warm_start` entry: a study name and its (normalized) storage URL."""

    study: str
    storage: str

    def __str__(self) -> str:
        return f"study '{self.study}' in {redact(self.storage)}"


@dataclass(frozen=True)
class WarmStart:
    """A source's trials, ready for `Study.add_trials`, and how many were outside the space."""

    source: WarmSource
    trials: tuple[FrozenTrial, ...]
    skipped: int


def read_sources(
    sources: Sequence[WarmSource],
    space: Mapping[str, BaseDistribution],
    *,
    directions: Sequence[str],
    objectives: Sequence[str],
    budgets: Mapping[str, int],
    own: WarmSource,
) -> list[WarmStart]:
    """Reads and checks each source study, creating nothing; returns the trials to copy in.

    Args:
        sources: the `hydra.sweeper.warm_start` entries.
        space: the sweep's searched parameters.
        directions: the sweep's directions.
        objectives: the sweep's objective names.
        budgets: the sweep's `constraints` ({metric: limit}).
        own: the sweep's own study (which cannot warm-start itself).

    Raises:
        ConfigError: one line naming the study and what is wrong with it.
    """
    read = []
    for source in sources:
        if source == own:
            raise ConfigError(f"{KEY}: {source} is this sweep's own study.")
        study = load_existing_study(source.storage, source.study, KEY)
        read.append(
            carry(
                source, study, space, directions=directions, objectives=objectives, budgets=budgets
            )
        )
    return read


def carry(
    source: WarmSource,
    study: optuna.Study,
    space: Mapping[str, BaseDistribution],
    *,
    directions: Sequence[str],
    objectives: Sequence[str],
    budgets: Mapping[str, int],
    key: str = KEY,
) -> WarmStart:
    """The trials of one earlier study (already opened) that warm-start this space, by the rule
    above; `freezesweep replay --warm-start` applies it to a replayed study.

    Args:
        source: what names the study in messages.
        study: the earlier study.
        space: this sweep's searched parameters.
        directions: this sweep's directions.
        objectives: this sweep's objective names.
        budgets: this sweep's `constraints`.
        key: the setting errors start with. Defaults to `hydra.sweeper.warm_start`.

    Raises:
        ConfigError: one line naming the study and what is wrong with it.
    """
    try:
        return _carry(source, study, space, directions, objectives, budgets)
    except ConfigError as error:
        raise ConfigError(key + str(error).removeprefix(KEY)) from None


def _carry(
    source: WarmSource,
    study: optuna.Study,
    space: Mapping[str, BaseDistribution],
    directions: Sequence[str],
    objectives: Sequence[str],
    budgets: Mapping[str, int],
) -> WarmStart:
    _check_objectives(source, study, directions, objectives)
    finished = [t for t in own_trials(study) if _finished(t)]
    if not finished:
        raise ConfigError(
            f"{KEY}: {source} has no COMPLETE trial (nor a PRUNED one with per-epoch values)."
        )
    _check_space(source, finished, space)
    carried = [_copy(t, source.study, space, budgets) for t in finished]
    trials = tuple(t for t in carried if t is not None)
    if not trials:
        raise ConfigError(
            f"{KEY}: none of the {len(finished)} finished trials of {source} lies inside "
            f"this sweep's space ({_space_text(space)})."
        )
    return WarmStart(source, trials, len(finished) - len(trials))


def add_warm_start(
    study: optuna.Study, warm: Sequence[WarmStart], *, created: bool
) -> list[dict[str, Any]] | None:
    """Copies in the sources this study has not had yet; returns the study's record of them.

    As `enqueue` is applied once: the invocation that created the study copies every source,
    then records them (an empty record without warm start); later invocations add the sources
    missing from the record, and nothing while it does not exist (its creator is still adding,
    or the study predates warm start: `None` is returned).

    Args:
        study: the opened study.
        warm: what `read_sources` returned.
        created: this invocation created the study.
    """
    record = study.user_attrs.get(WARM_STARTED_ATTR)
    if record is None and not created:
        return None
    done: list[dict[str, Any]] = list(record or [])
    seen = {(entry["study"], entry["storage"]) for entry in done}
    new = [w for w in warm if (w.source.study, redact(w.source.storage)) not in seen]
    for start in new:
        study.add_trials(start.trials)
        done.append(
            {
                "study": start.source.study,
                "storage": redact(start.source.storage),
                "trials": len(start.trials),
                "skipped": start.skipped,
            }
        )
    if new or record is None:
        study.set_user_attr(WARM_STARTED_ATTR, done)
    return done


def warm_start_text(record: Sequence[Mapping[str, Any]]) -> str:
    """`'digits-a' (12 trials), 'digits-b' (8 trials, 3 outside this space skipped)`."""
    parts = []
    for entry in record:
        skipped = f", {entry['skipped']} outside this space skipped" if entry["skipped"] else ""
        count = f"{entry['trials']} trial{'s' if entry['trials'] != 1 else ''}"
        parts.append(f"'{entry['study']}' ({count}{skipped})")
    return ", ".join(parts)


def warm_start_params(study: optuna.Study) -> dict[str, str]:
    """`{"warm_start": "'a' (12 trials), ..."}` for the parent run; empty without warm start."""
    record = study.user_attrs.get(WARM_STARTED_ATTR) or []
    return {"warm_start": warm_start_text(record)} if record else {}


def _check_objectives(
    source: WarmSource, study: optuna.Study, directions: Sequence[str], objectives: Sequence[str]
) -> None:
    theirs = [direction.name.lower() for direction in study.directions]
    if theirs != list(directions):
        raise ConfigError(
            f"{KEY}: {source} has direction(s) {theirs}, this sweep {list(directions)}."
        )
    names = study.metric_names
    if names is not None and list(names) != list(objectives):
        raise ConfigError(f"{KEY}: {source} has objectives {names}, this sweep {list(objectives)}.")


def _check_space(
    source: WarmSource, trials: Sequence[FrozenTrial], space: Mapping[str, BaseDistribution]
) -> None:
    theirs: dict[str, BaseDistribution] = {}
    for trial in trials:
        theirs.update(trial.distributions)
    for name, distribution in space.items():
        if name not in theirs:
            raise ConfigError(
                f"{KEY}: {source} did not search {name} (this sweep searches {_space_text(space)})."
            )
        if type(theirs[name]) is not type(distribution):
            raise ConfigError(
                f"{KEY}: {source} searched {name} as {describe(theirs[name])}, this sweep as "
                f"{describe(distribution)}."
            )


def _finished(trial: FrozenTrial) -> bool:
    values = _values(trial)
    return values is not None and all(math.isfinite(v) for v in values)


def _values(trial: FrozenTrial) -> list[float] | None:
    """A COMPLETE trial's values; a PRUNED trial's last report (as Optuna's `tell` records it)."""
    if trial.state == TrialState.COMPLETE:
        return trial.values
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return [trial.intermediate_values[max(trial.intermediate_values)]]
    return None


def _copy(
    trial: FrozenTrial,
    study_name: str,
    space: Mapping[str, BaseDistribution],
    budgets: Mapping[str, int],
) -> FrozenTrial | None:
    """The trial as a warm-start trial of the new study, or None when it lies outside its space."""
    inside = compat.distribution_contains
    if any(n not in trial.params or not inside(d, trial.params[n]) for n, d in space.items()):
        return None
    user_attrs: dict[str, Any] = {WARM_START_FROM_ATTR: f"{study_name}#{trial.number}"}
    constraints = None
    count = trial.user_attrs.get(TRAINABLE_PARAMS_ATTR)
    if count is not None:
        user_attrs[TRAINABLE_PARAMS_ATTR] = count
        if budgets:
            constraints = {metric: float(count) - limit for metric, limit in budgets.items()}
    pruned = trial.state == TrialState.PRUNED
    return optuna.trial.create_trial(
        state=trial.state,
        values=_values(trial),
        params={name: trial.params[name] for name in space},
        distributions=dict(space),
        user_attrs=user_attrs,
        system_attrs={WARM_START_ATTR: study_name},
        # A COMPLETE trial's curve stays behind: pruners compare a trial with this study's own
        # curves (of its own data and schedule), never with an earlier study's.
        intermediate_values=dict(trial.intermediate_values) if pruned else None,
        constraints=constraints,
    )


def _space_text(space: Mapping[str, BaseDistribution]) -> str:
    return ", ".join(sorted(space)) or "no parameter"
