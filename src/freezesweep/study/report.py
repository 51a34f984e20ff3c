"""A study's report files: the trial table, the accuracy/trainable-params Pareto set, its plot.

Used by the sweeper's end-of-sweep hook and by `freezesweep report`, so both always produce the
same files. Reads only the Optuna study (which the sweeper and the jobs both write); MLflow gets
the files through `freezesweep.tracking`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from freezesweep import objectives
from freezesweep.disk import refuse_link
from freezesweep.study import constraints, zero_cost
from freezesweep.study.attributes import (
    FAIL_REASON_ATTR,
    METHOD_ATTR,
    PRUNE_REASON_ATTR,
    RUN_ID_ATTR,
    TRAINABLE_PARAMS_ATTR,
)
from freezesweep.study.comparison import comparison_html
from freezesweep.study.csv_cells import spreadsheet_safe
from freezesweep.study.own_trials import own_trials
from freezesweep.study.pareto_plot import plot_front
from freezesweep.study.summary import best_trial, depth_table, search_space
from freezesweep.study.warm_start import warm_start_params

# Every file a report writes, in its folder.
REPORT_FILES = ("trials.csv", "pareto.csv", "depths.csv", "pareto.png", "comparison.html")
ACCURACY = objectives.ACCURACY
PARAMS = objectives.TRAINABLE_PARAMS
METHOD = objectives.METHOD


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, method, params, val_accuracy, trainable_params, seconds,
    run_id (the trial's MLflow run, as the trial recorded it; `publish` finds a replayed run's).

    A PRUNED trial's `val_accuracy` is the last value it reported to the pruner, at the epoch in
    `pruned_at_step` (empty for trials not pruned, or pruned before reporting).

    `method` is the trial's `finetune.method` (recorded by the trial; trials from before methods
    existed unfroze whole units).

    With a budget (`hydra.sweeper.constraints`) also `feasible` and, for over-budget trials,
    `prune_reason`; after a failure, `fail_reason`.

    Args:
        study: the study.
    """
    table = pd.DataFrame([_row(trial) for trial in own_trials(study)])
    if "pruned_at_step" in table:  # an integer column with gaps, not floats
        table["pruned_at_step"] = table["pruned_at_step"].astype("Int64")
    return table


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's row; a pruned trial's `val_accuracy` is the last value it reported, at
    `pruned_at_step`."""
    row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    row[METHOD] = trial.params.get("finetune.method", trial.user_attrs.get(METHOD_ATTR, "unfreeze"))
    row.update(trial.params)
    accuracy = trial.values[0] if trial.values and trial.state == TrialState.COMPLETE else None
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        row["pruned_at_step"] = max(trial.intermediate_values)
        accuracy = trial.intermediate_values[row["pruned_at_step"]]
    row[ACCURACY] = accuracy
    row[PARAMS] = trial.user_attrs.get(TRAINABLE_PARAMS_ATTR)
    row["seconds"] = trial.duration.total_seconds() if trial.duration else None
    row["run_id"] = trial.user_attrs.get(RUN_ID_ATTR)
    # Only in a study with a budget: False marks an over-budget trial (PRUNED untrained).
    if trial.constraints:
        row["feasible"] = constraints.feasible(trial.constraints)
    for attr in (FAIL_REASON_ATTR, PRUNE_REASON_ATTR):
        if attr in trial.user_attrs:
            row[attr] = trial.user_attrs[attr]
    return row


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


def refuse_report_links(directory: Path) -> None:
    """The report's folder and files are never written through a symbolic link: one planted
    there (`report/trials.csv` pointing at a user's file) is refused, and left as it is.

    Raises:
        ConfigError: naming the link (`freezesweep.disk.refuse_link`).
    """
    key = "hydra.sweep.dir (or `freezesweep report --output`)"
    refuse_link(directory, "the report's folder", key)
    for name in REPORT_FILES:
        refuse_link(directory / name, f"the report's {name}", key)


def write_report(study: optuna.Study, directory: Path) -> dict[str, Path]:
    """Write `trials.csv`, `pareto.csv`, `depths.csv`, `pareto.png` and `comparison.html`.

    Args:
        study: the study.
        directory: where the files go (created).

    Returns:
        The written files by name (the two pictures only when the study has trials).
    """
    table = trials_frame(study)
    return _write(table, _pareto_or_empty(table), directory, study.study_name)


def _pareto_or_empty(table: pd.DataFrame) -> pd.DataFrame:
    return pareto_table(table) if len(table) else table


def _write(
    table: pd.DataFrame,
    pareto: pd.DataFrame,
    directory: Path,
    study_name: str,
    pages: Any | None = None,
) -> dict[str, Path]:
    """The report files; `pages` (a `tracking.StudyPages`) gives the comparison its run links."""
    refuse_report_links(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = ("trials.csv", "pareto.csv", "depths.csv")
    files = {name: directory / name for name in names}
    # Opened in spreadsheets: text that would be a formula is written as text.
    spreadsheet_safe(table).to_csv(files["trials.csv"], index=False)
    spreadsheet_safe(pareto).to_csv(files["pareto.csv"], index=False)
    depth_table(table).to_csv(files["depths.csv"], index=False)
    if len(table):
        files["pareto.png"] = directory / "pareto.png"
        plot_front(table, pareto, files["pareto.png"], f"study {study_name}")
        routes = _routes(table, pages)
        title = f"study {study_name}: val_accuracy against trainable parameters, every trial"
        page = comparison_html(table, pareto, title, routes, pages.base if pages else "")
        files["comparison.html"] = directory / "comparison.html"
        files["comparison.html"].write_text(page, encoding="utf-8")
    return files


def publish(
    study: optuna.Study, directory: Path, tracking_spec: Any | None, *, end_parent: bool = True
) -> str | None:
    """Write the report files and, with tracking, make the study's MLflow parent run its
    summary: the files as artifacts, the search space as params, the best trial's run.

    Args:
        study: the study.
        directory: where the files go.
        tracking_spec: a `TrackingSpec`, or `None` to skip MLflow.
        end_parent: mark the parent run FINISHED afterwards. Defaults to `True`.

    Returns:
        The address of the comparison page in the MLflow UI (`None` without tracking).
    """
    table = trials_frame(study)
    pages = None
    if tracking_spec is not None:
        from freezesweep import tracking

        table = _with_run_ids(table, tracking_spec, study.study_name)
        pages = tracking.study_pages(tracking_spec, study.study_name)
    pareto = _pareto_or_empty(table)
    files = _write(table, pareto, directory, study.study_name, pages)
    files.update(zero_cost.report_files(study, table, directory))
    shown = ("number", METHOD, "finetune.top_k", "finetune.lora_rank", "finetune.lr")
    columns = [c for c in (*shown, ACCURACY, PARAMS) if c in pareto]
    print(f"Pareto set, val_accuracy vs trainable_params ({len(pareto)} trials):", flush=True)
    print(pareto[columns].to_string(index=False) if len(pareto) else "(none yet)", flush=True)
    print(f"report: {', '.join(str(path) for path in files.values())}", flush=True)
    if tracking_spec is not None:
        from freezesweep import tracking

        numbers = [int(number) for number in pareto.get("number", [])]
        best = best_trial(table)
        found = None if best is None else (int(best["number"]), _text(best["run_id"]))
        # The search space and the warm-start studies (if any) as the parent run's params.
        params = {**search_space(study), **warm_start_params(study)}
        tracking.summarize_study_run(tracking_spec, study.study_name, params, found)
        tracking.publish_study_report(
            tracking_spec, study.study_name, list(files.values()), numbers, end_parent=end_parent
        )
    return pages.comparison if pages is not None else None


def _routes(table: pd.DataFrame, pages: Any | None) -> dict[int, str]:
    """Each recorded run's page as a UI route, by trial number (none without tracking)."""
    if pages is None:
        return {}
    runs = table.dropna(subset=["run_id"])
    return {int(n): pages.route(r) for n, r in zip(runs["number"], runs["run_id"], strict=True)}


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _with_run_ids(table: pd.DataFrame, tracking_spec: Any, study_name: str) -> pd.DataFrame:
    """Fill the run ids trials could not record (a run spooled, then replayed) from MLflow; a
    tracking server that does not answer leaves them empty."""
    if not len(table) or table["run_id"].notna().all():
        return table
    from freezesweep import tracking

    try:
        found = tracking.trial_run_ids(tracking_spec, study_name)
    except Exception as error:
        if not tracking.is_connection_error(error):
            raise
        return table
    table["run_id"] = table["run_id"].fillna(table["number"].map(found))
    return table
