"""The sweeper's lifecycle hooks (`hydra.sweeper.preflight`, `on_sweep_start`, `on_sweep_end`).

The sweeper plugin knows nothing of MLflow or of the job config; `conf/config.yaml` names these
functions, and they check every sample job's values and the tracking server before a study
exists, open the study's parent run before any trial, and publish the report after each
invocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from freezesweep.spec import TrialSpec
from freezesweep.spec.read import job_spec, tracking_spec
from freezesweep.study.report import publish


def preflight(config: Any, jobs: Sequence[Any] = ()) -> None:
    """Sweeper hook, before the study, the sweep folder or any run exists.

    Every composed sample job (each choice and range end of the search space, each enqueued set,
    all with the fixed overrides) must read as a valid trial spec, the MLflow store must be
    writable (a tracking server must answer), each stage's optimizer must build, and each depth
    must fit its backbone (built here when that is cheap: an embedded or file backbone).

    Args:
        config: the sweep's config. No default.
        jobs: the sample jobs' composed configs, `hydra` node included. Defaults to `()`.

    Raises:
        ConfigError: a bad value in a job, with the message of a single run.
    """
    specs = [job_spec(job) for job in jobs]
    check_tracking(config)
    _check_with_keras(specs)


def check_tracking(config: Any, jobs: Sequence[Any] = ()) -> None:
    """Sweeper hook, the store part of `preflight` alone (for apps whose jobs are not trials):
    the MLflow store must be writable, a tracking server must answer.

    Args:
        config: the sweep's config, with a `tracking` section. No default.
        jobs: ignored (the sweeper passes the sample jobs). Defaults to `()`.
    """
    del jobs
    spec = tracking_spec(config)
    if spec.enabled:
        from freezesweep import tracking

        tracking.check_store(spec)


def _check_with_keras(specs: Sequence[TrialSpec]) -> None:
    """What needs Keras but no data: each stage's optimizer (its arguments included) is built,
    and each depth is checked against its backbone's units. A keras.applications backbone is
    not built here (that may download weights): its jobs check their depths before training."""
    if not specs:
        return
    from freezesweep.freeze import check_depths
    from freezesweep.model.assemble import build_backbone
    from freezesweep.train import build_optimizer

    built: dict[Any, Any] = {}
    for spec in specs:
        for stage in spec.schedule.stages:
            build_optimizer(stage)
        if spec.backbone.source not in ("embedded", "file"):
            continue
        if spec.backbone not in built:
            built[spec.backbone] = build_backbone(spec)[0]
        check_depths(built[spec.backbone], spec.schedule)


def on_sweep_start(study: optuna.Study, config: Any) -> None:
    """Sweeper hook: create (or find) the study's MLflow parent run before any trial runs, and
    end the runs of trials that died with their worker."""
    from freezesweep import tracking

    spec = tracking_spec(config)
    if spec.enabled:
        tracking.study_parent_run(spec, study.study_name)
        tracking.end_orphan_runs(spec, study.study_name, _finished_states(study))


def on_sweep_end(study: optuna.Study, config: Any) -> None:
    """Sweeper hook: end dead workers' runs, write the report next to the jobs and attach it to
    the parent run."""
    directory = Path(str(config.hydra.sweep.dir)) / "report"
    spec = tracking_spec(config)
    if spec.enabled:
        from freezesweep import tracking

        tracking.end_orphan_runs(spec, study.study_name, _finished_states(study))
    publish(study, directory, spec if spec.enabled else None)


def _finished_states(study: optuna.Study) -> dict[int, str]:
    return {
        trial.number: trial.state.name
        for trial in study.get_trials(deepcopy=False)
        if trial.state.is_finished()
    }
