"""The sweeper's lifecycle hooks (`hydra.sweeper.preflight`, `on_sweep_start`, `on_sweep_end`).

The sweeper plugin knows nothing of MLflow; `conf/config.yaml` names these functions, and they
check the tracking server before a study exists, open the study's parent run before any trial,
and publish the report after each invocation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from freezesweep.spec.read import tracking_spec
from freezesweep.study.report import publish


def preflight(config: Any) -> None:
    """Sweeper hook, before the study exists: an MLflow tracking server must answer."""
    from freezesweep import tracking

    spec = tracking_spec(config)
    if spec.enabled:
        tracking.check_reachable(spec)


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
