"""A study's report files: the trial table, the accuracy/trainable-params Pareto set, its plot.

Used by the sweeper's end-of-sweep hook and by `freezesweep report`, so both always produce the
same files. Reads only the Optuna study (which the sweeper and the jobs both write); MLflow gets
the files through `freezesweep.tracking`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from freezesweep import objectives
from freezesweep.study import constraints
from freezesweep.study.attributes import (
    FAIL_REASON_ATTR,
    METHOD_ATTR,
    PRUNE_REASON_ATTR,
    TRAINABLE_PARAMS_ATTR,
)

ACCURACY = objectives.ACCURACY
PARAMS = objectives.TRAINABLE_PARAMS
METHOD = objectives.METHOD
# One marker per fine-tuning method on the plot (others: a plain dot).
_MARKERS = {"unfreeze": "o", "lora": "^", "bitfit": "s", "norm": "D"}


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, method, params, val_accuracy, trainable_params, seconds.

    `method` is the trial's `finetune.method` (recorded by the trial; trials from before methods
    existed unfroze whole units).

    With a budget (`hydra.sweeper.constraints`) also `feasible` and, for over-budget trials,
    `prune_reason`; after a failure, `fail_reason`.

    Args:
        study: the study.
    """
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        row[METHOD] = trial.params.get(
            "finetune.method", trial.user_attrs.get(METHOD_ATTR, "unfreeze")
        )
        row.update(trial.params)
        accuracy = trial.values[0] if trial.values and trial.state == TrialState.COMPLETE else None
        row[ACCURACY] = accuracy
        row[PARAMS] = trial.user_attrs.get(TRAINABLE_PARAMS_ATTR)
        row["seconds"] = trial.duration.total_seconds() if trial.duration else None
        # Only in a study with a budget: False marks an over-budget trial (PRUNED untrained).
        if trial.constraints:
            row["feasible"] = constraints.feasible(trial.constraints)
        for attr in (FAIL_REASON_ATTR, PRUNE_REASON_ATTR):
            if attr in trial.user_attrs:
                row[attr] = trial.user_attrs[attr]
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_mask(accuracy: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Non-dominated points: higher accuracy and fewer trainable parameters are better.

    A point is dominated when another is at least as good on both axes and better on one.

    Args:
        accuracy: validation accuracies.
        params: trainable-parameter counts, same length.
    """
    keep = np.ones(len(accuracy), dtype=bool)
    for index in range(len(accuracy)):
        at_least = (accuracy >= accuracy[index]) & (params <= params[index])
        better = (accuracy > accuracy[index]) | (params < params[index])
        keep[index] = not np.any(at_least & better)
    return keep


def pareto_table(table: pd.DataFrame) -> pd.DataFrame:
    """The completed trials on the accuracy/trainable-params front, fewest parameters first."""
    done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna() & table[PARAMS].notna()]
    mask = pareto_mask(done[ACCURACY].to_numpy(float), done[PARAMS].to_numpy(float))
    return done[mask].sort_values([PARAMS, ACCURACY], ascending=[True, False])


def plot_front(table: pd.DataFrame, pareto: pd.DataFrame, path: Path, title: str) -> None:
    """Accuracy against trainable params, every trial a dot labelled with its depth, front drawn.

    Args:
        table: all trials.
        pareto: the front, from `pareto_table`.
        path: PNG file to write.
        title: plot title.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    # A trial that failed before recording its size has no x position (a config error).
    done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna() & table[PARAMS].notna()]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    # Each method its own colour and marker, in the legend; the front's points ringed in red.
    methods = done[METHOD] if METHOD in done else pd.Series(["unfreeze"] * len(done))
    for index, method in enumerate(sorted(set(methods))):
        rows = done[methods.to_numpy() == method]
        axes.scatter(
            rows[PARAMS],
            rows[ACCURACY],
            color=f"C{index}",
            marker=_MARKERS.get(method, "o"),
            alpha=0.8,
            label=method,
        )
    if len(pareto):
        axes.step(
            pareto[PARAMS], pareto[ACCURACY], where="post", color="tab:red", label="Pareto front"
        )
        axes.scatter(
            pareto[PARAMS], pareto[ACCURACY], s=120, facecolors="none", edgecolors="tab:red"
        )
    depth = "finetune.top_k"
    for _, row in done.iterrows():
        label = (
            f"k={int(row[depth])}" if depth in row and pd.notna(row[depth]) else f"#{row.number}"
        )
        axes.annotate(
            label,
            (row[PARAMS], row[ACCURACY]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    axes.set_xscale("log")  # depths span orders of magnitude (head only vs full)
    axes.set_xlabel("trainable parameters (log scale)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(study: optuna.Study, directory: Path) -> dict[str, Path]:
    """Write `trials.csv`, `pareto.csv` and `pareto.png` for a study.

    Args:
        study: the study.
        directory: where the files go (created).

    Returns:
        The written files by name (`pareto.png` only when the study has trials).
    """
    table = trials_frame(study)
    return _write(table, _pareto_or_empty(table), directory, study.study_name)


def _pareto_or_empty(table: pd.DataFrame) -> pd.DataFrame:
    return pareto_table(table) if len(table) else table


def _write(
    table: pd.DataFrame, pareto: pd.DataFrame, directory: Path, study_name: str
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {"trials.csv": directory / "trials.csv", "pareto.csv": directory / "pareto.csv"}
    table.to_csv(files["trials.csv"], index=False)
    pareto.to_csv(files["pareto.csv"], index=False)
    if len(table):
        files["pareto.png"] = directory / "pareto.png"
        plot_front(table, pareto, files["pareto.png"], f"study {study_name}")
    return files


def publish(
    study: optuna.Study, directory: Path, tracking_spec: Any | None, *, end_parent: bool = True
) -> pd.DataFrame:
    """Write the report files and, with tracking, put them on the study's MLflow parent run.

    Args:
        study: the study.
        directory: where the files go.
        tracking_spec: a `TrackingSpec`, or `None` to skip MLflow.
        end_parent: mark the parent run FINISHED afterwards. Defaults to `True`.

    Returns:
        The Pareto table.
    """
    table = trials_frame(study)
    pareto = _pareto_or_empty(table)
    files = _write(table, pareto, directory, study.study_name)
    shown = ("number", METHOD, "finetune.top_k", "finetune.lora_rank", "finetune.lr")
    columns = [c for c in (*shown, ACCURACY, PARAMS) if c in pareto]
    print(f"Pareto set, val_accuracy vs trainable_params ({len(pareto)} trials):", flush=True)
    print(pareto[columns].to_string(index=False) if len(pareto) else "(none yet)", flush=True)
    print(f"report: {', '.join(str(path) for path in files.values())}", flush=True)
    if tracking_spec is not None:
        from freezesweep import tracking

        numbers = [int(number) for number in pareto.get("number", [])]
        tracking.publish_study_report(
            tracking_spec, study.study_name, list(files.values()), numbers, end_parent=end_parent
        )
    return pareto
