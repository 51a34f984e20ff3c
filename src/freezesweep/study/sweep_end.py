"""The end of a sweep when it cannot go as planned: in a hurry (a second Ctrl-C), the models'
step (which never fails a sweep), and MLflow failing while the report is published.

`freezesweep.study.hooks.on_sweep_end` runs the end; these are its harder paths. Whatever
happens here, no run of the study is left RUNNING by this process if MLflow lets it be ended.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna

from freezesweep import stopping
from freezesweep.errors import SweepEndError
from freezesweep.redaction import redact
from freezesweep.spec.read import log_model_mode
from freezesweep.study.own_trials import own_trials
from freezesweep.study.report import trials_frame, write_report

log = logging.getLogger(__name__)


def finished_states(study: optuna.Study, spooled: set[int] | None = None) -> dict[int, str]:
    """Finished trials by number (but those whose runs wait in the spool: not orphans)."""
    return {
        trial.number: trial.state.name
        for trial in own_trials(study)
        if trial.state.is_finished() and trial.number not in (spooled or set())
    }


def hurried(study: optuna.Study, spec: Any, skipped: str = "") -> bool:
    """After a second Ctrl-C (`freezesweep.stopping.hurried`): end what keeps a run RUNNING and
    say what was `skipped` (default: the report); the caller skips the rest."""
    if not stopping.hurried():
        return False
    if spec.enabled:
        name = study.study_name
        _end_in_a_hurry(
            study, spec, skipped or f"report skipped: `freezesweep report --study {name}` writes it"
        )
    return True


def _end_in_a_hurry(study: optuna.Study, spec: Any, skipped: str) -> None:
    """The dead workers' runs and the parent run ended (KILLED), nothing else; a server that
    does not answer leaves them to the next invocation (its `on_sweep_start` ends orphans)."""
    from freezesweep import tracking

    try:
        tracking.check_reachable(spec)
        tracking.end_orphan_runs(spec, study.study_name, finished_states(study))
        tracking.end_study_run(spec, study.study_name)
    except Exception as error:
        if not tracking.is_connection_error(error):
            raise
        log.warning("MLflow tracking server unreachable; its runs are ended by the next run")
        return
    log.warning(skipped)


def then_promote(study: optuna.Study, config: Any) -> str:
    """What `freezesweep sync` does after the report, said at the end of its advice."""
    if log_model_mode(config) == "none":
        return ""
    return f" (it also logs the models and points {study.study_name}@champion and @knee)"


def promote_models(study: optuna.Study, config: Any, spec: Any) -> None:
    """Models and aliases after the report; a failure here is reported and never fails a
    sweep whose trials are all told (`freezesweep promote` does it again later)."""
    mode = log_model_mode(config)
    if mode == "none":
        return
    from freezesweep.study.promote import describe, promote

    folder = Path(str(config.hydra.sweep.dir))
    try:
        promoted = promote(study, spec, mode=mode, sweep_dir=folder)
    except Exception as error:
        reason = redact(f"{type(error).__name__}: {error}")
        log.warning(
            f"MLflow models not logged or registered ({reason}); run "
            f"`freezesweep promote --study {study.study_name}` once that is fixed"
        )
        return
    for line in describe(promoted, study.study_name, trials_frame(study)):
        print(line, flush=True)


def publishing_failed(
    study: optuna.Study, spec: Any, directory: Path, step: str, error: BaseException
) -> SweepEndError:
    """MLflow failed at `step` of the end (not a server that is down: that end is spooled).

    The report is written to `directory` (nothing is lost: it needs only the study), and the
    study's parent run is ended FAILED so nothing stays RUNNING until the next invocation.

    Args:
        study: the study, whose trials are all told.
        spec: tracking settings.
        directory: the report's folder.
        step: what the end was doing, e.g. `"publishing the report on the study's parent run"`.
        error: what MLflow raised.

    Returns:
        The one-line error for the sweeper to print (exit status 1).
    """
    from freezesweep import tracking

    name = study.study_name
    write_report(study, directory)
    try:
        tracking.end_study_run(spec, name, status="FAILED")
        ended = "its parent run ended FAILED"
    except Exception as again:  # MLflow refusing everything: say so, do not hide the first
        ended = f"its parent run could not be ended either ({_first_line(again)})"
    return SweepEndError(
        redact(
            f"the end of sweep '{name}' failed {step} ({_first_line(error)}): the trials are all "
            f"told and the report is in {directory}; {ended}. `freezesweep report --study "
            f"{name}` publishes the report once MLflow accepts it"
        )
    )


def _first_line(error: BaseException) -> str:
    """`Type: message`, the message cut at its first line (MLflow's may hold a response body)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
