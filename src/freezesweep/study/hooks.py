"""The sweeper's lifecycle hooks (`hydra.sweeper.preflight`, `on_sweep_start`, `on_trial_end`,
`on_sweep_end`).

The sweeper plugin knows nothing of MLflow or of the job config; `conf/config.yaml` names these
functions, and they check every sample job's values and the tracking server before a study
exists, open the study's parent run before any trial, chart the study on it after each trial,
and publish the report after each invocation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from freezesweep.errors import ConfigError
from freezesweep.spec import TrialSpec
from freezesweep.spec.read import job_spec, tracking_spec, zero_cost_spec
from freezesweep.study import summary, zero_cost
from freezesweep.study.own_trials import own_trials
from freezesweep.study.report import publish, trials_frame
from freezesweep.study.sweep_end import (
    finished_states,
    hurried,
    promote_models,
    publishing_failed,
    then_promote,
)

log = logging.getLogger(__name__)
# This process's claim on each study's parent run (`tracking.claim_study_run`): its id and the
# spool id that lets this invocation's spooled end of the sweep touch it.
_CLAIMS: dict[str, tuple[str, str]] = {}


def preflight(config: Any, jobs: Sequence[Any] = ()) -> None:
    """Sweeper hook, before the study, the sweep folder or any run exists.

    Every composed sample job (each choice and range end of the search space, each enqueued set,
    all with the fixed overrides) must read as a valid trial spec, the MLflow store must be
    writable (a tracking server must answer), each stage's optimizer must build, each depth
    must fit its backbone, and the user's data must train (a `.npz` file or an image folder,
    read and checked once per data setting; `freezesweep.prepare.check_trial`). A simulated job
    (`trainer.simulate`) builds nothing: its grid table must read and answer it.

    Args:
        config: the sweep's config.
        jobs: the sample jobs' composed configs, `hydra` node included. Defaults to `()`.

    Raises:
        ConfigError: a bad value in a job, with the message of a single run.
    """
    specs = [job_spec(job) for job in jobs]
    zero_cost_spec(config)
    check_tracking(config)
    if any(spec.simulation is not None for spec in specs):
        from freezesweep import simulate

        for spec in specs:  # a simulated job builds nothing: its table must answer it
            simulate.check(spec)
    _check_with_keras([spec for spec in specs if spec.simulation is None])


def check_tracking(config: Any, jobs: Sequence[Any] = ()) -> None:
    """Sweeper hook, the store part of `preflight` alone (for apps whose jobs are not trials):
    the MLflow store must be writable, a tracking server must answer.

    Args:
        config: the sweep's config, with a `tracking` section.
        jobs: ignored (the sweeper passes the sample jobs). Defaults to `()`.
    """
    del jobs
    spec = tracking_spec(config)
    if spec.enabled:
        from freezesweep import tracking

        tracking.check_store(spec)


def _check_with_keras(specs: Sequence[TrialSpec]) -> None:
    """What needs Keras but no training (`freezesweep.prepare.check_trial`), each backbone
    built and each data setting checked once for all the jobs."""
    if not specs:
        return
    from freezesweep.prepare import check_trial

    built: dict[Any, Any] = {}
    checked: set[tuple[object, ...]] = set()
    for spec in specs:
        check_trial(spec, backbones=built, data_checked=checked)


def on_sweep_start(study: optuna.Study, config: Any) -> None:
    """Sweeper hook: create (or find) the study's MLflow parent run before any trial runs, send
    the runs an earlier invocation spooled, and end the runs of trials that died with their
    worker."""
    from freezesweep import tracking

    spec = tracking_spec(config)
    if spec.enabled:
        _CLAIMS[study.study_name] = tracking.claim_study_run(spec, study.study_name)
        # Before the orphans: a spooled run is RUNNING on the server until its replay ends it.
        waiting = _replay(spec, config)
        tracking.end_orphan_runs(spec, study.study_name, finished_states(study, waiting))
    zero_cost.at_sweep_start(study, config, spec if spec.enabled else None, trials_frame)


def on_trial_end(study: optuna.Study, trial: FrozenTrial, config: Any) -> None:
    """Sweeper hook, after each trial is told: study-level metrics on the parent run, step =
    the trial's number, so the MLflow UI charts the sweep while it runs. With the server down,
    they are spooled with the trial runs and replayed as they were (values and time)."""
    spec = tracking_spec(config)
    if not spec.enabled:
        return
    from freezesweep import tracking

    metrics = study_metrics(study, config.get("objectives"))
    try:
        # A server that is down fails this at once instead of after MLflow's retries.
        tracking.check_reachable(spec)
        tracking.log_study_progress(spec, study.study_name, trial.number, metrics)
    except Exception as error:  # a chart must never fail the sweep
        claim = _CLAIMS.get(study.study_name)
        down = isinstance(error, ConfigError) or tracking.is_connection_error(error)
        if down and claim is not None:
            entry = tracking.spool_study_metrics(
                _spool(config), study.study_name, claim, trial.number, metrics
            )
            log.warning(f"study metrics of trial {trial.number} spooled in {entry}")
            return
        log.warning(f"study metrics not logged for trial {trial.number}: {error}")


def study_metrics(study: optuna.Study, objectives: Any = None) -> dict[str, float]:
    """`best_val_accuracy` (when a trial completed), `n_complete`, `n_pruned`, `n_failed`.

    Args:
        study: the study.
        objectives: the study's objective names, in order. Defaults to `None`
            (`["val_accuracy"]`).
    """
    names = list(objectives or ["val_accuracy"])
    trials = own_trials(study)
    metrics = {
        "n_complete": float(sum(t.state == TrialState.COMPLETE for t in trials)),
        "n_pruned": float(sum(t.state == TrialState.PRUNED for t in trials)),
        "n_failed": float(sum(t.state == TrialState.FAIL for t in trials)),
    }
    if "val_accuracy" in names:
        index = names.index("val_accuracy")
        values = [
            t.values[index]
            for t in trials
            if t.state == TrialState.COMPLETE and t.values is not None
        ]
        if values:
            metrics["best_val_accuracy"] = float(max(values))
    return metrics


def on_sweep_end(study: optuna.Study, config: Any) -> None:
    """Sweeper hook: end dead workers' runs, write the report next to the jobs and attach it to
    the parent run, then log the chosen trials' models and point the study's registered model's
    aliases (`freezesweep.study.promote`, under `trainer.log_model`). After a second Ctrl-C
    (`freezesweep.stopping.hurried`), only the dead workers' runs and the parent run are ended
    (KILLED).

    Raises:
        SweepEndError: MLflow failed otherwise than by not answering (then the end is
            spooled): the report is on disk, the parent run ended FAILED; one line says which
            step failed (`freezesweep.study.sweep_end.publishing_failed`).
    """
    directory = Path(str(config.hydra.sweep.dir)) / "report"
    spec = tracking_spec(config)
    if hurried(study, spec):
        return
    if not spec.enabled:
        publish(study, directory, None)
        return
    from freezesweep import tracking

    step = "reaching the tracking server"
    try:
        # A server that is down fails this at once instead of after MLflow's retries.
        tracking.check_reachable(spec)
        step = "replaying the spooled runs"
        waiting = _replay(spec, config)
        step = "ending the runs of dead workers"
        tracking.end_orphan_runs(spec, study.study_name, finished_states(study, waiting))
        # A second Ctrl-C may come while this runs: asked again before each slow step.
        if hurried(study, spec):
            return
        step = "publishing the report on the study's parent run"
        address = publish(study, directory, spec)
        if hurried(
            study,
            spec,
            skipped=f"models skipped: `freezesweep promote --study {study.study_name}` logs them",
        ):
            return
        promote_models(study, config, spec)
        # The console's last lines: the one address that shows the study's comparison.
        print(summary.comparison_lines(address, spec.uri), flush=True)
    except Exception as error:
        if not (isinstance(error, ConfigError) or tracking.is_connection_error(error)):
            raise publishing_failed(study, spec, directory, step, error) from error
        _spool_the_end(study, config, directory)


def _spool_the_end(study: optuna.Study, config: Any, directory: Path) -> None:
    """The server is down: the trials are told and their runs spooled, so the sweep itself
    succeeded. The report and the parent run's end wait in the spool with the trial runs."""
    from freezesweep import tracking

    publish(study, directory, None)
    files = sorted(path for path in directory.iterdir() if path.is_file())
    claim = _CLAIMS.get(study.study_name)
    if claim is None:  # the study's parent run was not opened by this process
        log.warning(
            f"MLflow tracking server unreachable at the end of the sweep; the report is in "
            f"{directory}: publish it with `freezesweep report --study {study.study_name}`"
        )
        return
    tracking.spool_study_end(_spool(config), study.study_name, files, claim)
    log.warning(
        f"MLflow tracking server unreachable at the end of the sweep; the report is in "
        f"{directory}, and it and the spooled runs wait in {_spool(config)}: run "
        f"`freezesweep sync {config.hydra.sweep.dir}` once the server answers"
        + then_promote(study, config)
    )


def _spool(config: Any) -> Path:
    from freezesweep import tracking

    return Path(str(config.hydra.sweep.dir)) / tracking.SPOOL_FOLDER


def _replay(spec: Any, config: Any) -> set[int]:
    """Send the sweep's spooled runs; the trial numbers of those still in the spool (being
    written by another worker, or the server stopped answering), whose runs are not orphans."""
    from freezesweep import tracking

    done = tracking.replay_spool(spec, _spool(config))
    if done.sent:
        log.info(f"replayed {len(done.sent)} spooled MLflow run(s): {', '.join(done.sent)}")
    if done.left:
        log.warning(f"spooled MLflow run(s) not replayed yet: {', '.join(done.left)}")
    for line in done.kept:  # refused (not what freezesweep writes, or not its own run)
        log.warning(line)
    # Entries are named after their runs: trial-NNNN (with a suffix when the name was taken).
    names = [name.split(".")[0].removeprefix("trial-") for name in done.busy + done.left]
    return {int(name) for name in names if name.isdigit()}
