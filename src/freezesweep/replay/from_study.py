"""A finished study read as a recorded grid: what `freezesweep replay --from-study` replays.

Each COMPLETE or PRUNED trial is a point: its parameters, the per-epoch values the job reported
to the pruner (its curve), and the `stage_epochs` / `stage_seconds` user attrs the job records
after training. FAILED and unfinished trials are left out.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridPoint, GridTable
from freezesweep.study.attributes import (
    STAGE_EPOCHS_ATTR,
    STAGE_SECONDS_ATTR,
    TRAINABLE_PARAMS_ATTR,
)
from freezesweep.study.own_trials import own_trials


def table_from_study(study: optuna.Study, provenance: Mapping[str, str] | None = None) -> GridTable:
    """The study's finished trials as a `GridTable`.

    Args:
        study: a single-objective study run by `hydra/sweeper: freezesweep`.
        provenance: `commit`, `machine` and `seed` to record (`study` is the study's name).
            Defaults to none.

    Raises:
        ConfigError: naming the study, when it has no finished trial, is multi-objective, or a
            finished trial lacks its per-epoch curve or its stage costs.
    """
    where = f"study '{study.study_name}'"
    if len(study.directions) != 1:
        raise ConfigError(f"{where}: a multi-objective study cannot be replayed.")
    finished = own_trials(study, (TrialState.COMPLETE, TrialState.PRUNED))
    if not finished:
        raise ConfigError(f"{where}: no COMPLETE or PRUNED trial to replay.")
    points = [_point(trial, where) for trial in finished]
    return GridTable(points, {**dict(provenance or {}), "study": study.study_name})


def _point(trial: FrozenTrial, where: str) -> GridPoint:
    attrs = trial.user_attrs
    if STAGE_SECONDS_ATTR not in attrs or STAGE_EPOCHS_ATTR not in attrs:
        raise ConfigError(
            f"{where}: trial {trial.number} has no {STAGE_SECONDS_ATTR} (recorded by freezesweep "
            "jobs since the grids of issue 25); run the sweep again to replay it."
        )
    if not trial.intermediate_values:
        raise ConfigError(f"{where}: trial {trial.number} has no per-epoch values (curve).")
    steps = sorted(trial.intermediate_values)
    if steps != list(range(len(steps))):
        raise ConfigError(f"{where}: trial {trial.number} has gaps in its per-epoch values.")
    complete = trial.state == TrialState.COMPLETE and trial.value is not None
    return GridPoint(
        params=dict(trial.params),
        curve=tuple(float(trial.intermediate_values[step]) for step in steps),
        stage_epochs=tuple(int(n) for n in attrs[STAGE_EPOCHS_ATTR]),
        stage_seconds=tuple(float(s) for s in attrs[STAGE_SECONDS_ATTR]),
        value=float(trial.value) if complete else math.nan,  # type: ignore[arg-type]
        trainable_params=int(attrs.get(TRAINABLE_PARAMS_ATTR, 0)),
        state=trial.state.name,
        trial=trial.number,
    )


def this_machine() -> str:
    """The CPU model and core count (what a recorded second means)."""
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"
