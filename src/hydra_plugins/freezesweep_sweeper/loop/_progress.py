"""What people read: one progress line per finished trial, and the end-of-sweep summary."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from freezesweep.objectives import TRAINABLE_PARAMS
from freezesweep.study.attributes import (
    FAIL_REASON_ATTR,
    PRUNE_REASON_ATTR,
    TRAINABLE_PARAMS_ATTR,
)
from freezesweep.study.own_trials import (
    own_best_trial,
    own_best_trials,
    own_trials,
    own_trials_dataframe,
)

from ..trials._shared_study import counts_toward_total

_MAX_TABLE_ROWS = 60
_MAX_REASON_CHARS = 60


def progress_line(trial: FrozenTrial, study: optuna.Study, objectives: Sequence[str]) -> str:
    """`trial 7 COMPLETE val_accuracy=0.9123 trainable_params=74053 top_k=2 lr=0.00031 12.3s
    best=0.9301 (#5)`."""
    parts = [f"trial {trial.number}", trial.state.name]
    # A PRUNED trial's value is only its last report, shown below with its step.
    if trial.values is not None and trial.state != TrialState.PRUNED:
        parts += [f"{name}={_number(v)}" for name, v in zip(objectives, trial.values, strict=True)]
    if TRAINABLE_PARAMS_ATTR in trial.user_attrs and TRAINABLE_PARAMS not in objectives:
        parts.append(f"{TRAINABLE_PARAMS}={trial.user_attrs[TRAINABLE_PARAMS_ATTR]}")
    names = short_names(trial.params)
    parts += [f"{names[key]}={_number(value)}" for key, value in trial.params.items()]
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        parts.append(f"at step {step} ({objectives[0]}={_number(trial.intermediate_values[step])})")
    if trial.duration is not None:
        parts.append(f"{trial.duration.total_seconds():.1f}s")
    # FAIL: the exception; PRUNED before training: `over budget` (see study.constraints).
    why = trial.user_attrs.get(FAIL_REASON_ATTR, trial.user_attrs.get(PRUNE_REASON_ATTR))
    if why is not None:
        reason = str(why).strip().splitlines() or [""]
        parts.append(f"reason={reason[0][: _MAX_REASON_CHARS * 2]}")
    parts.append(_best(study))
    return " ".join(parts)


def sweep_progress(study: optuna.Study, n_trials: int, n_jobs: int, elapsed_s: float) -> str:
    """`[5/16] best 0.9123 (#3) · 1m02s elapsed · ETA 2m10s`: the study's finished trials of its
    total, the best so far, this invocation's time and the time left at the median trial time."""
    trials = own_trials(study)
    # A re-queued FAIL trial does not take a place of the total: its retry does.
    finished = [t for t in trials if t.state.is_finished() and counts_toward_total(t)]
    durations = [t.duration.total_seconds() for t in finished if t.duration is not None]
    left = max(n_trials - len(finished), 0)
    if not left:
        eta = "done"
    elif durations:
        # Trials of a batch run side by side: n_jobs of them per median trial time.
        rounds = -(-left // n_jobs)
        eta = "ETA " + _duration(rounds * statistics.median(durations))
    else:
        eta = "ETA unknown"
    best = _best(study).replace("=", " ", 1)
    return f"[{len(finished)}/{n_trials}] {best} · {_duration(elapsed_s)} elapsed · {eta}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary(study: optuna.Study, objectives: Sequence[str], *, storage: str, sweep_dir: str) -> str:
    """The trial table, the best trial or the Pareto set, and where everything went (the study's
    own trials: warm-start trials are the sampler's history only)."""
    trials = own_trials(study)
    states = ", ".join(
        f"{sum(t.state == state for t in trials)} {state.name}"
        for state in TrialState
        if any(t.state == state for t in trials)
    )
    lines = [f"study '{study.study_name}': {len(trials)} trials ({states or 'none'})"]
    lines.append(trials_table(study, objectives))
    best = own_best_trial(study) if len(study.directions) == 1 else None
    if best is not None:
        lines.append(f"best trial: {_describe(best, objectives)}")
    elif len(study.directions) > 1 and (front := own_best_trials(study)):
        lines.append(f"Pareto set ({len(front)} trials):")
        lines += [f"  {_describe(t, objectives)}" for t in front]
    lines.append(f"storage: {storage}  study: {study.study_name}")
    lines.append(f"job outputs: {sweep_dir}/trial-NNNN")
    return "\n".join(lines)


def trials_table(study: optuna.Study, objectives: Sequence[str]) -> str:
    """The own trials' table (as Optuna's trials dataframe), cut to what a person compares."""
    frame = own_trials_dataframe(
        study, ("number", "state", "value", "params", "duration", "user_attrs")
    )
    if frame.empty:
        return "(no trials)"
    columns = [str(column) for column in frame.columns]
    names = short_names(c.removeprefix("params_") for c in columns if c.startswith("params_"))
    renamed = {"duration": "seconds", f"user_attrs_{FAIL_REASON_ATTR}": FAIL_REASON_ATTR}
    for column in columns:
        for prefix in ("values_", "value_"):
            if column.startswith(prefix):
                renamed[column] = column.removeprefix(prefix)
        if column.startswith("params_"):
            renamed[column] = names[column.removeprefix("params_")]
    if TRAINABLE_PARAMS not in objectives:
        renamed[f"user_attrs_{TRAINABLE_PARAMS_ATTR}"] = TRAINABLE_PARAMS
    frame = frame.rename(columns=renamed)
    frame["seconds"] = frame["seconds"].dt.total_seconds().round(1)
    if FAIL_REASON_ATTR in frame:
        reasons = frame[FAIL_REASON_ATTR].fillna("")
        frame[FAIL_REASON_ATTR] = reasons.str.slice(0, _MAX_REASON_CHARS)
    keep = [c for c in frame.columns if not str(c).startswith("user_attrs_")]
    text: str = frame[keep].to_string(index=False, max_rows=_MAX_TABLE_ROWS)
    return text


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """`finetune.top_k` -> `top_k`, unless two keys end the same way (then the full key)."""
    keys = list(keys)
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {
        key: tail if last.count(tail) == 1 else key for key, tail in zip(keys, last, strict=True)
    }


def _describe(trial: FrozenTrial, objectives: Sequence[str]) -> str:
    values = " ".join(
        f"{name}={_number(v)}" for name, v in zip(objectives, trial.values or (), strict=False)
    )
    params = " ".join(f"{key}={_number(value)}" for key, value in trial.params.items())
    return f"#{trial.number} {values} {params}"


def _best(study: optuna.Study) -> str:
    if len(study.directions) == 1:
        best = own_best_trial(study)
        return "best=none yet" if best is None else f"best={_number(best.value)} (#{best.number})"
    front = own_best_trials(study)
    return "pareto=" + ",".join(f"#{t.number}" for t in front) if front else "best=none yet"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def optimization_results(study: optuna.Study) -> dict[str, Any] | None:
    """`optimization_results.yaml` as Hydra's Optuna sweeper writes it; None before any COMPLETE.

    One objective: `{name: optuna, best_params, best_value}`; several: `{name: optuna,
    solutions: [{params, values}, ...]}` (the Pareto set).
    """
    if len(study.directions) == 1:
        best = own_best_trial(study)
        if best is None:
            return None
        return {"name": "optuna", "best_params": best.params, "best_value": best.value}
    front = own_best_trials(study)
    if not front:
        return None
    solutions = [{"params": t.params, "values": t.values} for t in front]
    return {"name": "optuna", "solutions": solutions}
