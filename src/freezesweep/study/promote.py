"""From a study to models you can ship: the chosen trials' models logged to MLflow, the best one
registered under the study's name with alias `champion`, the smallest within 1 pp with `knee`.

Run after each sweep invocation (the sweeper's end-of-sweep hook, under `trainer.log_model`) and
by `freezesweep promote` for a finished study. Each trial's model is logged into the trial's own
run from the file the trial kept (`freezesweep.logged_model` says why files first), once; the
aliases move when a later invocation of the study finds a better trial. Both the champion and
the knee are on the accuracy/trainable-params front, so `pareto` logs them too.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from freezesweep.objectives import ACCURACY, TRAINABLE_PARAMS
from freezesweep.study.attributes import MODEL_FILE_ATTR
from freezesweep.study.own_trials import own_trials
from freezesweep.study.report import pareto_table, trials_frame

log = logging.getLogger(__name__)

CHAMPION = "champion"
KNEE = "knee"
# The knee: the fewest trainable parameters within this much val_accuracy of the champion (1 pp).
KNEE_TOLERANCE = 0.01


@dataclass(frozen=True)
class Promoted:
    """What `promote` did.

    Attributes:
        logged: logged model id by trial number (logged now or before).
        aliases: `(trial number, version)` by alias.
        missing: chosen trials whose model could not be logged, with why.
    """

    logged: dict[int, str] = field(default_factory=dict)
    aliases: dict[str, tuple[int, str]] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)


def champion_and_knee(table: pd.DataFrame) -> tuple[int, int] | None:
    """The trial numbers of the champion and the knee among the completed trials, or `None`.

    The champion has the highest `val_accuracy` (ties: fewer trainable params, then the earlier
    trial); the knee has the fewest trainable params among trials within `KNEE_TOLERANCE` of it
    (ties: the higher accuracy, then the earlier trial).

    Args:
        table: `freezesweep.study.report.trials_frame` of the study.
    """
    if not len(table):
        return None
    done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna()]
    done = done[done[TRAINABLE_PARAMS].notna()]
    if not len(done):
        return None
    best = done.sort_values([ACCURACY, TRAINABLE_PARAMS, "number"], ascending=[False, True, True])
    champion = best.iloc[0]
    # A hair below the tolerance: 0.95 - 0.01 must admit 0.94 despite binary fractions.
    close = done[done[ACCURACY] >= champion[ACCURACY] - KNEE_TOLERANCE - 1e-9]
    knee = close.sort_values([TRAINABLE_PARAMS, ACCURACY, "number"], ascending=[True, False, True])
    return int(champion["number"]), int(knee.iloc[0]["number"])


def chosen_trials(table: pd.DataFrame, mode: str) -> list[int]:
    """The trials whose model `trainer.log_model` = `mode` logs, in order of trial number:
    `all` completed trials, the `pareto` front, or the `best` two (champion and knee).
    """
    picks = champion_and_knee(table)
    if mode == "none" or picks is None:
        return []
    if mode == "all":
        done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna()]
        numbers = set(done["number"])
    elif mode == "pareto":
        numbers = set(pareto_table(table)["number"])
    else:
        numbers = set()
    return sorted({int(number) for number in numbers} | set(picks))


def promote(
    study: optuna.Study, tracking_spec: Any, *, mode: str = "best", sweep_dir: Path | None = None
) -> Promoted:
    """Log the chosen trials' models (once each) and point the study's aliases at the best.

    Args:
        study: the study.
        tracking_spec: the MLflow store's `TrackingSpec`.
        mode: which trials' models to log (`trainer.log_model`): `pareto`, `best` or `all`.
            The champion and the knee are logged in every mode. Defaults to `"best"`.
        sweep_dir: the sweep's folder: where a trial's model is looked for when the path it
            recorded is not there (another machine's mount), and where workers ending together
            take turns. Defaults to `None`.

    Returns:
        What was logged and registered, and which chosen trials had no model to log.
    """
    from freezesweep import tracking

    table = trials_frame(study)
    picks = champion_and_knee(table)
    if picks is None:
        return Promoted()
    run_ids = dict(zip(table["number"], table["run_id"], strict=True))
    chosen = chosen_trials(table, mode)
    if not all(isinstance(run_ids[number], str) for number in chosen):
        # A run spooled, then replayed: its id is on the run's tags, not on the trial.
        found = tracking.trial_run_ids(tracking_spec, study.study_name)
        run_ids.update({n: r for n, r in found.items() if not isinstance(run_ids.get(n), str)})
    trials = {trial.number: trial for trial in own_trials(study)}
    done = Promoted()
    with _turn(sweep_dir):
        for number in chosen:
            _log_one(tracking_spec, trials[number], run_ids.get(number), sweep_dir, done)
        aliases = {alias: number for alias, number in zip((CHAMPION, KNEE), picks, strict=True)}
        ready = {alias: done.logged[n] for alias, n in aliases.items() if n in done.logged}
        if ready:
            tags = {done.logged[n]: _version_tags(table, n) for n in picks if n in done.logged}
            versions = tracking.register_aliases(tracking_spec, study.study_name, ready, tags)
            done.aliases.update({alias: (aliases[alias], v) for alias, v in versions.items()})
    return done


def _log_one(spec: Any, trial: Any, run_id: Any, sweep_dir: Path | None, done: Promoted) -> None:
    from freezesweep.logged_model import EXAMPLE_FILE, MODEL_FILE, log_model_file

    number = trial.number
    recorded = trial.user_attrs.get(MODEL_FILE_ATTR)
    candidates = [Path(recorded)] if recorded else []
    if sweep_dir is not None:
        candidates.append(sweep_dir / f"trial-{number:04d}" / MODEL_FILE)
    # The model with its input example (a `trainer.save_model` file alone was not kept for this).
    kept = [path for path in candidates if path.with_name(EXAMPLE_FILE).is_file()]
    path = next((path for path in kept if path.is_file()), None)
    if not isinstance(run_id, str):
        done.missing[number] = "its MLflow run is not known (still spooled?)"
    elif path is None:
        done.missing[number] = (
            "no model was kept for it (it ran with trainer.log_model=none, or before "
            "freezesweep kept models)"
        )
    else:
        done.logged[number] = log_model_file(spec, run_id, path)


def _version_tags(table: pd.DataFrame, number: int) -> dict[str, str]:
    row = table[table["number"] == number].iloc[0]
    return {
        "freezesweep.trial": str(number),
        ACCURACY: f"{row[ACCURACY]:.6g}",
        TRAINABLE_PARAMS: str(int(row[TRAINABLE_PARAMS])),
    }


@contextlib.contextmanager
def _turn(sweep_dir: Path | None) -> Iterator[None]:
    """Workers whose invocations end together log and register one after the other (each
    finds what the one before did), through a lock file in the sweep's folder."""
    if sweep_dir is None or not sweep_dir.is_dir():
        yield
        return
    # Never through a link planted under the lock's name.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW
    descriptor = os.open(sweep_dir / ".promote.lock", flags, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # and the lock with it


def describe(promoted: Promoted, study_name: str, table: pd.DataFrame) -> list[str]:
    """The lines a sweep or `freezesweep promote` prints about what `promote` did."""
    lines = []
    if promoted.logged:
        numbers = ", ".join(str(number) for number in sorted(promoted.logged))
        lines.append(f"MLflow models of trials {numbers} (Keras flavor, LoRA merged)")
    for alias, (number, version) in promoted.aliases.items():
        row = table[table["number"] == number].iloc[0]
        lines.append(
            f"models:/{study_name}@{alias} = version {version}: trial {number}, "
            f"val_accuracy {row[ACCURACY]:.4f}, {int(row[TRAINABLE_PARAMS]):,} trainable params"
        )
    for number, why in sorted(promoted.missing.items()):
        lines.append(f"trial {number}: model not logged: {why}")
    return lines
