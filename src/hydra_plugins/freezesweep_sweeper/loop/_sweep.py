"""The sweep: preflight, open the shared study, run batches to its total, then the summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from freezesweep import hydra_files, targets
from freezesweep.errors import FailureBudgetExceeded, SweepEndError
from freezesweep.redaction import redact, redact_logs
from freezesweep.study.warm_start import add_warm_start, warm_start_text

from ..definition._fingerprint import record
from ..definition._settings import Settings, read_settings
from ..jobs._config_reuse import ReusingConfigLoader
from ..jobs._overrides import name_unnamed_study
from ..jobs._passwords import scrub
from ..trials._liveness import Heartbeat, fail_stale
from ..trials._pending import tell_saved
from ..trials._shared_study import count_trials, enqueue_once, open_study
from ._batches import Batches, Tally
from ._preflight import Prepared, preflight
from ._progress import optimization_results, summary
from ._signals import Interrupted, signals_raise

log = logging.getLogger(__name__)


class SweepLoop(Sweeper):
    """See `FreezesweepSweeperConf` for the keys and docs/sweeps.md for the rules."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        self._conf = dict(conf)
        self.settings: Settings | None = None
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self._job_fixed: list[str] = []  # beyond the space's (`jobs._overrides`)

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
        # Every job after the first of its shape is re-valued, not composed again.
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
        assert self.hydra_context is not None and self.launcher is not None
        loader = self.hydra_context.config_loader
        # Everything that can be wrong fails here, before the study, the folder or any run.
        ready = preflight(settings, config, loader, arguments, self._job_fixed)
        self.settings = settings = ready.settings
        ready.sweep_dir.mkdir(parents=True, exist_ok=True)
        multirun = OmegaConf.to_container(config, enum_to_str=True)
        hydra_files.save(multirun, ready.sweep_dir / "multirun.yaml")
        study, worker = self._open(ready)
        batches = Batches(
            study,
            ready.space,
            settings,
            config,
            launcher=self.launcher,
            config_loader=loader,
            worker=worker,
            sweep_dir=ready.sweep_dir,
        )
        # The handlers stay for the cleanup: a second signal must not break it (`_signals`).
        with signals_raise():
            try:
                with Heartbeat(settings.storage, settings.heartbeat_interval) as beat:
                    batches.run(beat)
            except Interrupted as stop:
                log.warning(f"{stop}: the current trial(s) failed and re-queued; exiting")
                failed = self._end(study)
                if failed is not None:  # the exit status stays the signal's (75: requeue)
                    log.error(redact(str(failed)))
                raise SystemExit(stop.exit_code) from None
        self._finish(study, ready.sweep_dir, batches.tally)
        return batches.returns

    def _open(self, ready: Prepared) -> tuple[optuna.Study, str]:
        """The shared study, its definition recorded, its baselines enqueued, and what earlier
        workers left behind told (saved results) or failed (stale trials); with this worker."""
        settings, config = self._ready()
        opened = open_study(settings, ready.space.distributions)
        study = opened.study
        record(study, ready.definition)
        self._warm_start(study, ready, created=opened.created)
        n_enqueued = enqueue_once(study, settings.enqueue, created=opened.created)
        # Before the stale check: the trials of saved results went silent when their worker
        # exited, and would be failed as stale.
        tell_saved(study, ready.sweep_dir)
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
        return study, opened.worker

    def _warm_start(self, study: optuna.Study, ready: Prepared, *, created: bool) -> None:
        """Copies in the warm-start studies' trials (once per study) and says which it has."""
        started = add_warm_start(study, ready.warm_start, created=created)
        if started is None and ready.warm_start:
            log.warning(
                f"hydra.sweeper.warm_start ignored: study '{study.study_name}' has no warm-start "
                "record (it was created before warm start, or its creator is still adding it)"
            )
        elif started:
            log.info(
                f"warm start: {warm_start_text(started)}: the sampler's history only, never "
                "counted toward n_trials"
            )

    def _finish(self, study: optuna.Study, sweep_dir: Path, tally: Tally) -> None:
        """The summary, `optimization_results.yaml`, `on_sweep_end`, then the failure budget;
        a `SweepEndError` of `on_sweep_end` is raised last (one line, exit status 1)."""
        settings = self._ready()[0]
        counts = count_trials(study)
        if counts.finished < settings.n_trials and counts.running:
            log.info(
                f"{counts.running} trial(s) still running in other workers; they finish the "
                f"study's {settings.n_trials} trials"
            )
        storage = redact(settings.storage)
        log.info(summary(study, settings.objectives, storage=storage, sweep_dir=str(sweep_dir)))
        results = optimization_results(study)
        if results is not None:  # Read by tools written for Hydra's Optuna sweeper.
            OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
        failed = self._end(study)
        if tally.over(settings.max_failure_rate):
            if failed is not None:
                log.error(redact(str(failed)))
            raise FailureBudgetExceeded(
                f"{tally.failed} of the {tally.finished} trials of this invocation failed, more "
                f"than hydra.sweeper.max_failure_rate={settings.max_failure_rate} allows; "
                f"stopped. Last reason: {tally.last_reason}"
            )
        if failed is not None:
            raise failed

    def _end(self, study: optuna.Study) -> SweepEndError | None:
        """Runs `on_sweep_end`; returns the `SweepEndError` it raised (the trials are all told:
        the caller decides the exit status), lets anything else through."""
        settings, config = self._ready()
        if settings.on_sweep_end is None:
            return None
        try:
            settings.on_sweep_end(study=study, config=config)
        except SweepEndError as error:
            return error
        return None

    def _ready(self) -> tuple[Settings, DictConfig]:
        assert self.settings is not None and self.config is not None, "setup() was not called"
        return self.settings, self.config
