"""Zero-cost depth scores: one number per searched depth before any trial trains, and how they
ranked the depths once the study has trained them.

The score (`zero_cost.score: log_me`) is LogME (You et al., "LogME: Practical Assessment of
Pre-trained Models for Transfer Learning", ICML 2021) of the frozen features at each depth's cut
(`freezesweep.train.transferability.depth_scores`): one forward pass over the first
`zero_cost.max_examples` training examples. It is computed once per study and kept on the study
(`SCORES_ATTR`), so a resumed sweep and every worker read the same numbers; with
`zero_cost.enqueue: N` the N best-scoring depths are the study's first trials. The report gets
`zero_cost.csv` (depth, score, best trained val_accuracy) and `zero_cost.png`, with Kendall's tau
between the two.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from freezesweep.study.attributes import DEFINITION_ATTR
from freezesweep.study.pareto_plot import ACCURACY, DEPTH

log = logging.getLogger(__name__)
# Study user attr: `{"score": "log_me", "scores": {"<depth>": value}}`.
SCORES_ATTR = "zero_cost_scores"
CSV_FILE, PLOT_FILE = "zero_cost.csv", "zero_cost.png"
# The study definition stores each distribution as Optuna's repr (`definition._fingerprint`).
_INT = re.compile(r"IntDistribution\(high=(-?\d+), log=\w+, low=(-?\d+), step=(\d+)\)")
_CHOICES = re.compile(r"CategoricalDistribution\(choices=\(([^)]*)\)\)")


def searched_depths(study: optuna.Study) -> list[int]:
    """The depths (`finetune.top_k`) the study's recorded search space holds; `[]` when the
    depth is not searched (or its distribution is not integer).

    Args:
        study: a study the freezesweep sweeper opened (its definition recorded).
    """
    definition = study.user_attrs.get(DEFINITION_ATTR) or {}
    text = str((definition.get("params") or {}).get(DEPTH, ""))
    if found := _INT.fullmatch(text):
        high, low, step = (int(group) for group in found.groups())
        return list(range(low, high + 1, step))
    if found := _CHOICES.fullmatch(text):
        items = [item.strip() for item in found.group(1).split(",") if item.strip()]
        if all(re.fullmatch(r"\d+", item) for item in items):
            return sorted({int(item) for item in items})
    return []


def stored_scores(study: optuna.Study, score: str) -> dict[int, float] | None:
    """The scores kept on the study for `score`, or `None`."""
    stored = study.user_attrs.get(SCORES_ATTR)
    if not isinstance(stored, dict) or stored.get("score") != score:
        return None
    return {int(depth): float(value) for depth, value in stored.get("scores", {}).items()}


def study_scores(study: optuna.Study, config: Any) -> dict[int, float] | None:
    """The study's zero-cost scores, computed and kept (and the best depths enqueued) on first
    use; `None` when `zero_cost.score` is `none` or nothing can be scored (said in a line).

    Args:
        study: the study, its definition recorded.
        config: the sweep's config (`zero_cost`, and the job's keys at their base values).
    """
    from freezesweep.spec.read import job_spec, zero_cost_spec

    settings = zero_cost_spec(config)
    if not settings.enabled:
        return None
    kept = stored_scores(study, settings.score)
    if kept is not None:
        return kept
    depths = searched_depths(study)
    if not depths:
        log.info(f"zero-cost scores skipped: {DEPTH} is not searched as integers")
        return None
    scores = _score(job_spec(config), depths, settings.max_examples)
    if scores is None:
        return None
    study.set_user_attr(
        SCORES_ATTR, {"score": settings.score, "scores": {str(d): v for d, v in scores.items()}}
    )
    best = sorted(scores, key=lambda depth: -scores[depth])[: settings.enqueue]
    for depth in best:
        study.enqueue_trial({DEPTH: depth}, skip_if_exists=True)
    shown = ", ".join(f"{depth}: {scores[depth]:.4f}" for depth in sorted(scores))
    enqueued = f"; depths {best} enqueued first" if best else ""
    log.info(f"zero-cost scores ({settings.score}) per {DEPTH}: {shown}{enqueued}")
    return scores


def at_sweep_start(
    study: optuna.Study,
    config: Any,
    tracking_spec: Any | None,
    trials_frame: Callable[[optuna.Study], pd.DataFrame],
) -> None:
    """Sweeper hook part (`hooks.on_sweep_start`): the study's scores, and with tracking their
    table and plot on the study's parent run (the trained accuracy joins them in the report).

    Args:
        study: the study.
        config: the sweep's config.
        tracking_spec: a `TrackingSpec`, or `None` without tracking.
        trials_frame: the report's trial table (`study.report.trials_frame`).
    """
    if study_scores(study, config) is None or tracking_spec is None:
        return
    from freezesweep import tracking

    folder = Path(str(config.hydra.sweep.dir)) / "report"
    files = report_files(study, trials_frame(study), folder)
    tracking.attach_study_files(tracking_spec, study.study_name, list(files.values()))


def _score(spec: Any, depths: list[int], max_examples: int) -> dict[int, float] | None:
    """LogME of each depth's cut, on the job's backbone and data at their base values."""
    import keras

    from freezesweep import runtime
    from freezesweep.data import Dataset
    from freezesweep.model.units import find_units
    from freezesweep.prepare import prepare_trial
    from freezesweep.train.transferability import depth_scores

    runtime.seed_everything(spec.seed)
    trial = prepare_trial(spec)
    if not isinstance(trial.data, Dataset):
        log.info("zero-cost scores skipped: they read arrays, and data.kind streams its images")
        return None
    units = len(find_units(trial.backbone, spec.schedule.unit))
    fits = [depth for depth in depths if depth <= units]
    scores = depth_scores(
        trial.model, trial.backbone, trial.data, fits, spec.schedule.unit, max_examples
    )
    keras.backend.clear_session()  # the trials build their own models from a clean session
    return scores


def report_files(study: optuna.Study, table: pd.DataFrame, directory: Path) -> dict[str, Path]:
    """`zero_cost.csv` and `zero_cost.png` in `directory` when the study has scores.

    Args:
        study: the study.
        table: its trials (`study.report.trials_frame`).
        directory: the report folder.
    """
    stored = study.user_attrs.get(SCORES_ATTR)
    if not isinstance(stored, dict):
        return {}
    frame = ranked(stored, table)
    directory.mkdir(parents=True, exist_ok=True)
    files = {CSV_FILE: directory / CSV_FILE, PLOT_FILE: directory / PLOT_FILE}
    frame.to_csv(files[CSV_FILE], index=False)
    _plot(frame, str(stored.get("score")), files[PLOT_FILE])
    tau = kendall_tau(frame)
    if tau is not None:
        log.info(
            f"zero-cost scores ({stored.get('score')}) against the best trained val_accuracy of "
            f"{len(frame.dropna())} depths: Kendall tau {tau:.2f}"
        )
    return files


def ranked(stored: dict[str, Any], table: pd.DataFrame) -> pd.DataFrame:
    """Per depth: the score and the best trained val_accuracy (empty until one completed)."""
    scores = {int(depth): float(value) for depth, value in stored.get("scores", {}).items()}
    best: dict[int, float] = {}
    if DEPTH in table and ACCURACY in table:
        done = table.dropna(subset=[ACCURACY, DEPTH])
        grouped = done.groupby(DEPTH)[ACCURACY].max()
        best = {int(d): float(v) for d, v in zip(grouped.index, grouped, strict=True)}
    depths = sorted(scores)
    return pd.DataFrame(
        {
            "depth": depths,
            "score": [scores[depth] for depth in depths],
            "best_val_accuracy": [best.get(depth, math.nan) for depth in depths],
        }
    )


def kendall_tau(frame: pd.DataFrame) -> float | None:
    """Kendall's tau-b between score and trained accuracy over the depths that have both;
    `None` below three such depths."""
    known = frame.dropna()
    if len(known) < 3:
        return None
    tau = known["score"].corr(known["best_val_accuracy"], method="kendall")
    return None if pd.isna(tau) else float(tau)


def _plot(frame: pd.DataFrame, score: str, path: Path) -> None:
    from freezesweep.plotting import new_figure, save_figure

    figure, left = new_figure((6.4, 3.6))
    left.plot(frame["depth"], frame["score"], "o-", color="tab:blue", label=score)
    left.set_xlabel(f"depth ({DEPTH})")
    left.set_ylabel(f"{score} (frozen features)", color="tab:blue")
    right = left.twinx()
    right.plot(frame["depth"], frame["best_val_accuracy"], "s--", color="tab:orange")
    right.set_ylabel("best trained val_accuracy", color="tab:orange")
    tau = kendall_tau(frame)
    shown = "not yet known" if tau is None else f"{tau:.2f}"
    left.set_title(f"zero-cost score against the trained accuracy per depth (Kendall tau {shown})")
    save_figure(figure, path)
