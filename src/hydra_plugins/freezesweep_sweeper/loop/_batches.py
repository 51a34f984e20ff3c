"""Batches of trials until the study's total: ask, launch their jobs, tell the results.

The failure budget is judged on this invocation's finished trials (`Tally`); a worker out of
places lingers while another worker's trial is late with its heartbeat (see `Batches.run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import optuna
from hydra.core.config_loader import ConfigLoader
from hydra.core.utils import JobReturn, configure_log
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from freezesweep import compat
from freezesweep.redaction import redact_logs
from freezesweep.study.attributes import FAIL_REASON_ATTR, REQUEUED_ATTR

from ..definition._grammar import SearchSpace
from ..definition._settings import Settings
from ..jobs._overrides import job_overrides
from ..trials._liveness import Heartbeat, fail_stale, unproven
from ..trials._outcomes import Outcome, SearchSpaceExhausted, fail_unfinished, outcome
from ..trials._pending import StorageUnavailable, save_untold, tell_with_retry
from ._ask import ask_batch
from ._progress import progress_line, sweep_progress
from ._signals import EXIT_REQUEUE, Interrupted

log = logging.getLogger(__name__)

# One failure in the first trial or two is not yet a rate; the budget is judged from this many
# finished trials of the invocation on (and always once more at the end).
_BUDGET_MIN_TRIALS = 3


@dataclass
class Tally:
    """This invocation's finished trials, for the failure budget."""

    finished: int = 0
    failed: int = 0
    last_reason: str = ""

    def add(self, trial: FrozenTrial) -> None:
        if trial.system_attrs.get(REQUEUED_ATTR):
            return  # Failed by a storage outage: its retry is what counts.
        self.finished += 1
        if trial.state == TrialState.FAIL:
            self.failed += 1
            self.last_reason = str(trial.user_attrs.get(FAIL_REASON_ATTR, ""))

    def over(self, rate: float) -> bool:
        return self.failed > rate * self.finished


@dataclass
class Batches:
    """This invocation's batches of one study: what `run` launched, told and tallied.

    Args:
        study: the study.
        space: the search space (its fixed overrides included).
        settings: the sweeper's settings.
        config: the sweep's config.
        launcher: Hydra's launcher.
        config_loader: Hydra's config loader (checks a custom search space's jobs).
        worker: this worker's identity, stamped on its trials.
        sweep_dir: the sweep folder (results saved through a storage outage).
    """

    study: optuna.Study
    space: SearchSpace
    settings: Settings
    config: DictConfig
    launcher: Launcher
    config_loader: ConfigLoader
    worker: str
    sweep_dir: Path
    tally: Tally = field(default_factory=Tally)
    returns: list[Sequence[JobReturn]] = field(default_factory=list)
    job_index: int = 0
    # Set once a grid or brute-force sampler has tried every point: no more batches.
    exhausted: bool = False
    # When this invocation's batches began, for the progress line's elapsed time.
    started: float = field(default_factory=time.monotonic)

    def run(self, beat: Heartbeat) -> None:
        """Batches until the study total is reached, then linger for other workers' trials.

        Out of places, a worker still waits on another worker's RUNNING trial until its
        heartbeat moves on (its worker is alive and will tell it): if that worker died (even
        just before this one started), the trial turns stale after the grace period and this
        worker runs its retry, so the study reaches its total without another invocation.
        """
        settings = self.settings
        seen: dict[int, float] = {}  # other workers' trials: their heartbeat when first seen
        said: list[int] = []
        while True:
            fail_stale(self.study, settings.grace_period)
            batch = ask_batch(self.study, self.space, settings, self.config, self.worker)
            if batch:
                self.returns.append(self._run(batch, beat))
                if self.tally.finished >= _BUDGET_MIN_TRIALS and self.over_budget():
                    return
                if self.exhausted:
                    log.info("the sampler has tried every point of the search space; stopping")
                    return
                continue
            waiting = unproven(self.study, settings.heartbeat_interval, seen)
            if not waiting:
                return
            if waiting != said:
                log.info(
                    f"waiting for trial(s) {waiting} of other workers: a heartbeat (every "
                    f"{settings.heartbeat_interval:g} s) shows a worker alive; a trial silent "
                    f"for hydra.sweeper.grace_period={settings.grace_period:g} s is failed, "
                    "re-queued and run here"
                )
                said = waiting
            time.sleep(settings.heartbeat_interval)

    def over_budget(self) -> bool:
        """Whether more of this invocation's trials failed than `max_failure_rate` allows."""
        return self.tally.over(self.settings.max_failure_rate)

    def _run(self, batch: list[optuna.Trial], beat: Heartbeat) -> Sequence[JobReturn]:
        results = self._launch(batch, beat)
        told = [outcome(result, self.settings.objectives) for result in results]
        for index, trial in enumerate(batch):
            try:
                frozen = tell_with_retry(
                    self.study,
                    trial,
                    told[index],
                    attempts=self.settings.tell_attempts,
                    backoff=self.settings.tell_backoff,
                )
            except StorageUnavailable as down:
                # The rest of the batch is not tried: the storage just failed every retry. Exit
                # "run me again", as after SIGTERM: the rerun tells the saved results.
                self._save(batch[index:], told[index:], down)
            except SearchSpaceExhausted as done:
                frozen = done.trial
                self.exhausted = True
            except UpdateFinishedTrialError:
                log.warning(
                    f"trial {trial.number} was failed as stale by another worker while it ran "
                    f"(this worker paused longer than hydra.sweeper.grace_period); result dropped"
                )
                continue
            self._told(frozen)
        return results

    def _launch(self, batch: list[optuna.Trial], beat: Heartbeat) -> Sequence[JobReturn]:
        """The batch's jobs, launched while the heartbeat stamps their trials."""
        overrides = [job_overrides(self.settings, t.params, t.number, self.space) for t in batch]
        ids = [compat.trial_id(trial) for trial in batch]
        beat.track(ids)
        try:
            if self.settings.custom_search_space is not None:
                # Only a custom search space can suggest keys the preflight never composed; Hydra
                # composing every job twice cost ~0.5 s a trial for nothing otherwise.
                for job in overrides:
                    self.config_loader.load_sweep_config(self.config, list(job))
            # Hydra's basic launcher logs "Launching N jobs locally" and every job's overrides;
            # the trial's own line says the same in fewer words.
            logging.getLogger(compat.HYDRA_BASIC_LAUNCHER_LOGGER).setLevel(logging.WARNING)
            results = self.launcher.launch(overrides, initial_job_idx=self.job_index)
        except BaseException as error:
            fail_unfinished(self.study, batch, error, requeue=isinstance(error, Interrupted))
            raise
        finally:
            beat.untrack(ids)
            # Each job configured logging into its own directory; the sweeper logs to the console.
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            redact_logs()
        self.job_index += len(batch)
        return results

    def _save(
        self, trials: list[optuna.Trial], outcomes: list[Outcome], down: StorageUnavailable
    ) -> NoReturn:
        save_untold(self.study.study_name, self.sweep_dir, trials, outcomes, down)
        raise SystemExit(EXIT_REQUEUE) from None

    def _told(self, frozen: FrozenTrial) -> None:
        """Tallies a told trial and prints its progress lines; runs `on_trial_end`."""
        settings = self.settings
        self.tally.add(frozen)
        log.info(progress_line(frozen, self.study, settings.objectives))
        elapsed = time.monotonic() - self.started
        log.info(sweep_progress(self.study, settings.n_trials, settings.n_jobs, elapsed))
        if settings.on_trial_end is not None:
            settings.on_trial_end(study=self.study, trial=frozen, config=self.config)
