"""The sweep loop: ask a batch of trials, launch their jobs, tell the results, watch the budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, configure_log
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.exceptions import UpdateFinishedTrialError

from freezesweep import compat, hydra_files, targets
from freezesweep.redaction import redact, redact_logs
from freezesweep.study.storage import check_storage

from ._ask import ask_batch
from ._budget import FailureBudgetExceeded, Tally
from ._compose import ReusingConfigLoader
from ._console import optimization_results, progress_line, summary, sweep_progress
from ._definition import reconcile, record, sweep_definition
from ._folders import move_sweep, name_unnamed_study
from ._grammar import SearchSpace, check_enqueued, parse_search_space
from ._liveness import Heartbeat, fail_stale, silent_others
from ._overrides import job_overrides
from ._pending import StorageUnavailable, save_untold, tell_saved, tell_with_retry
from ._results import SearchSpaceExhausted, fail_unfinished, outcome
from ._sampler import check_grid
from ._samples import sample_points
from ._secrets import scrub
from ._settings import Settings, read_settings
from ._signals import EXIT_REQUEUE, Interrupted, signals_raise
from ._study import count_trials, enqueue_once, open_study

log = logging.getLogger(__name__)

# One failure in the first trial or two is not yet a rate; the budget is judged from this many
# finished trials of the invocation on (and always once more at the end).
_BUDGET_MIN_TRIALS = 3


class FreezesweepSweeperImpl(Sweeper):
    """See `FreezesweepSweeperConf` for the keys and docs/sweeps.md for the rules."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        self._conf = dict(conf)
        self.settings: Settings | None = None
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self._job_index = 0
        # Set once a grid or brute-force sampler has tried every point: no more batches.
        self._exhausted = False
        # When this invocation's sweep began, for the progress line's elapsed time.
        self._started = time.monotonic()
        self._worker = "unnamed"
        self._job_fixed: list[str] = []  # every job's overrides beyond the space's (`_folders`)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        redact_logs()
        # The user's own `_target_` modules, before the sampler's and pruner's are checked.
        targets.allow_modules(config.get("allowed_targets"))  # a ListConfig is a Sequence
        if self._conf.get("study_name") is None:
            self._job_fixed = name_unnamed_study(self._conf, config)
        self.settings = read_settings(self._conf, sweep_dir=str(config.hydra.sweep.dir))
        hidden = scrub(config)
        if hidden:
            # Hydra's singleton holds its own copy of the hydra node, which submitit pickles.
            HydraConfig.instance().set_config(config)
            log.info(f"password(s) in {', '.join(hidden)} reach jobs through the environment")
        # Every job after the first of its shape is re-valued, not composed again (`_compose`).
        hydra_context = HydraContext(
            config_loader=ReusingConfigLoader(hydra_context.config_loader),
            callbacks=hydra_context.callbacks,
        )
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        settings, config = self._ready()
        assert self.hydra_context is not None
        space = parse_search_space(
            settings.params,
            arguments,
            job_config=config,
            config_loader=self.hydra_context.config_loader,
        )
        space = replace(space, fixed_overrides=(*space.fixed_overrides, *self._job_fixed))
        check_enqueued(
            settings.enqueue,
            space.distributions,
            custom_keys_allowed=settings.custom_search_space is not None,
        )
        check_grid(settings.sampler, space.distributions)
        # Compose the jobs of every choice, range end and enqueued set now: a key the config
        # lacks fails here, and the preflight hook checks each job's values, all before the
        # study, the sweep folder or any run exists.
        jobs = [
            self.hydra_context.config_loader.load_sweep_config(
                config, job_overrides(settings, point, 0, space)
            )
            for point in sample_points(space.distributions, settings.enqueue)
        ]
        check_storage(settings.storage)
        if settings.preflight is not None:
            settings.preflight(config=config, jobs=jobs)
        # A resumed study must be the same sweep: refused (or moved to a new study) before the
        # sweep folder, its multirun.yaml or any trial is touched.
        definition = sweep_definition(settings, space.distributions, jobs[0] if jobs else None)
        resolved = reconcile(settings, definition, Path(str(config.hydra.sweep.dir)))
        sweep_dir = resolved.sweep_dir
        if resolved.settings is not settings:  # on_definition_change=new_study
            settings = self.settings = resolved.settings
            space = move_sweep(config, space, sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        hydra_files.save(
            OmegaConf.to_container(config, enum_to_str=True), sweep_dir / "multirun.yaml"
        )

        opened = open_study(settings, space.distributions)
        self._worker = opened.worker
        study = opened.study
        record(study, definition)
        n_enqueued = enqueue_once(study, settings.enqueue, created=opened.created)
        # Before the stale check: the trials of saved results went silent when their worker
        # exited, and would be failed as stale.
        tell_saved(study, sweep_dir)
        fail_stale(study, settings.grace_period)
        counts = count_trials(study)
        log.info(
            f"study '{study.study_name}' in {redact(settings.storage)}: {counts.finished} of "
            f"{settings.n_trials} trials finished, {counts.running} running; worker "
            f"{opened.worker}, sampler {settings.sampler['_target_']} seed {opened.sampler_seed}; "
            f"{n_enqueued} parameter set(s) newly enqueued"
        )
        if settings.on_sweep_start is not None:
            settings.on_sweep_start(study=study, config=config)

        tally = Tally()
        self._started = time.monotonic()
        returns: list[Sequence[JobReturn]] = []
        try:
            with signals_raise(), Heartbeat(settings.storage, settings.heartbeat_interval) as beat:
                self._loop(study, space, tally, returns, beat)
        except Interrupted as stop:
            log.warning(f"{stop}: the current trial(s) failed and re-queued; exiting")
            if settings.on_sweep_end is not None:
                settings.on_sweep_end(study=study, config=config)
            raise SystemExit(stop.exit_code) from None

        counts = count_trials(study)
        if counts.finished < settings.n_trials and counts.running:
            log.info(
                f"{counts.running} trial(s) still running in other workers; they finish the "
                f"study's {settings.n_trials} trials"
            )
        log.info(
            summary(
                study,
                settings.objectives,
                storage=redact(settings.storage),
                sweep_dir=str(sweep_dir),
            )
        )
        results = optimization_results(study)
        if results is not None:  # Read by tools written for Hydra's Optuna sweeper.
            OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
        if settings.on_sweep_end is not None:
            settings.on_sweep_end(study=study, config=config)
        if tally.over(settings.max_failure_rate):
            raise FailureBudgetExceeded(
                f"{tally.failed} of the {tally.finished} trials of this invocation failed, more "
                f"than hydra.sweeper.max_failure_rate={settings.max_failure_rate} allows; "
                f"stopped. Last reason: {tally.last_reason}"
            )
        return returns

    def _loop(
        self,
        study: optuna.Study,
        space: SearchSpace,
        tally: Tally,
        returns: list[Sequence[JobReturn]],
        beat: Heartbeat,
    ) -> None:
        """Batches until the study total is reached, then linger for silent workers' trials.

        Out of places, a worker still waits while another worker's trial is late with its
        heartbeat: if that worker died, the trial turns stale after the grace period and this
        worker runs its retry, so the study reaches its total without another invocation.
        """
        settings, _ = self._ready()
        while True:
            fail_stale(study, settings.grace_period)
            batch = self._ask(study, space)
            if batch:
                returns.append(self._run(study, batch, space, tally, beat))
                if tally.finished >= _BUDGET_MIN_TRIALS and tally.over(settings.max_failure_rate):
                    return
                if self._exhausted:
                    log.info("the sampler has tried every point of the search space; stopping")
                    return
                continue
            silent = silent_others(study, settings.heartbeat_interval)
            if not silent:
                return
            log.info(f"waiting for trial(s) {silent}: their workers are late with heartbeats")
            time.sleep(settings.heartbeat_interval)

    def _ask(self, study: optuna.Study, space: SearchSpace) -> list[optuna.Trial]:
        settings, config = self._ready()
        return ask_batch(study, space, settings, config, self._worker)

    def _run(
        self,
        study: optuna.Study,
        batch: list[optuna.Trial],
        space: SearchSpace,
        tally: Tally,
        beat: Heartbeat,
    ) -> Sequence[JobReturn]:
        settings, config = self._ready()
        assert self.launcher is not None
        overrides = [job_overrides(settings, t.params, t.number, space) for t in batch]
        ids = [compat.trial_id(trial) for trial in batch]
        beat.track(ids)
        try:
            if settings.custom_search_space is not None:
                # Only a custom search space can suggest keys the preflight never composed; Hydra
                # composing every job twice cost ~0.5 s a trial for nothing otherwise.
                self.validate_batch_is_legal(overrides)
            # Hydra's basic launcher logs "Launching N jobs locally" and every job's overrides;
            # the trial's own line says the same in fewer words.
            logging.getLogger(compat.HYDRA_BASIC_LAUNCHER_LOGGER).setLevel(logging.WARNING)
            results = self.launcher.launch(overrides, initial_job_idx=self._job_index)
        except BaseException as error:
            fail_unfinished(study, batch, error)
            raise
        finally:
            beat.untrack(ids)
            # Each job configured logging into its own directory; the sweeper logs to the console.
            configure_log(config.hydra.hydra_logging, config.hydra.verbose)
            redact_logs()
        self._job_index += len(batch)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        told = [outcome(result, settings.objectives) for result in results]
        attempts, backoff = settings.tell_attempts, settings.tell_backoff
        for index, trial in enumerate(batch):
            try:
                frozen = tell_with_retry(
                    study, trial, told[index], attempts=attempts, backoff=backoff
                )
            except StorageUnavailable as down:
                # The rest of the batch is not tried: the storage just failed every retry. Exit
                # "run me again", as after SIGTERM: the rerun tells the saved results.
                save_untold(study.study_name, sweep_dir, batch[index:], told[index:], down)
                raise SystemExit(EXIT_REQUEUE) from None
            except SearchSpaceExhausted as done:
                frozen = done.trial
                self._exhausted = True
            except UpdateFinishedTrialError:
                log.warning(
                    f"trial {trial.number} was failed as stale by another worker while it ran "
                    f"(this worker paused longer than hydra.sweeper.grace_period); result dropped"
                )
                continue
            tally.add(frozen)
            log.info(progress_line(frozen, study, settings.objectives))
            elapsed = time.monotonic() - self._started
            log.info(sweep_progress(study, settings.n_trials, settings.n_jobs, elapsed))
            if settings.on_trial_end is not None:
                settings.on_trial_end(study=study, trial=frozen, config=config)
        return results

    def _ready(self) -> tuple[Settings, DictConfig]:
        assert self.settings is not None and self.config is not None, "setup() was not called"
        return self.settings, self.config
