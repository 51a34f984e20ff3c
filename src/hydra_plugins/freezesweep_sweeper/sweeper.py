"""`hydra/sweeper: freezesweep`: the public Sweeper class and its configuration.

The implementation is imported when the sweeper is created, not when Hydra scans its plugins, so
every Hydra start-up (a plain single run included) stays free of Optuna's import time.
"""

# No `from __future__ import annotations` here: Hydra's plugin scanner executes this module
# before registering it in sys.modules, and dataclasses then fail to resolve string annotations.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from ._groups import register_groups


@dataclass
class FreezesweepSweeperConf:
    """The keys of `hydra.sweeper` (the names of Hydra's Optuna sweeper, plus a few)."""

    _target_: str = "hydra_plugins.freezesweep_sweeper.sweeper.FreezesweepSweeper"
    # The sampler and pruner specs reach the sweeper as mappings: it seeds the sampler per worker
    # and hands the pruner's spec to every job, so Hydra must not instantiate them first.
    _recursive_: bool = False

    # The sampler and pruner config groups (see `_groups`), as in Hydra's Optuna sweeper:
    # `- override hydra/sweeper/sampler: random` in a sweep file, or hydra/sweeper/pruner=median
    # on the command line. `_self_` first, so a selected option is not overwritten by the default.
    defaults: list[Any] = field(
        default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": None}]
    )

    # Any optuna.samplers.* as a `_target_` mapping (set by the sampler group; a `_target_` in a
    # sweep file replaces it). A `seed` here is the base seed (see `seed`).
    sampler: dict[str, Any] = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler"}
    )

    # 'maximize' or 'minimize', or a list of them for a multi-objective (Pareto) study.
    direction: Any = "maximize"

    # A name per direction for the job's return values, used in logs and the study's metric names.
    # null: [val_accuracy] for one direction, [val_accuracy, trainable_params] for two.
    objectives: list[str] | None = None

    # Where the study lives, shared by every invocation and worker: any SQLAlchemy URL Optuna's
    # RDB storage takes (postgresql+psycopg://user@host/db, mysql+pymysql://..., sqlite:///FILE
    # for one machine) or journal:PATH (Optuna's journal file, for a shared file system). A
    # relative path is made absolute (jobs may change directory) and its folder is created.
    # A password given on the command line reaches jobs through the environment, never a file.
    # null (Hydra's Optuna sweeper: in memory): a fresh SQLite file in the sweep directory.
    storage: str | None = "sqlite:///sweeps/optuna.db"

    # Study name in the storage; an existing study of that name is continued. null: a new
    # study per invocation, named no-name-<uuid> (as Optuna names it).
    study_name: str | None = "freezesweep"

    # The study's TOTAL of finished trials (COMPLETE + PRUNED + FAIL) across invocations and
    # workers: an invocation runs only what is missing.
    n_trials: int = 20

    # Trials handed to the launcher at once (parallel with a parallel launcher).
    n_jobs: int = 1

    # The sweep stops, exiting non-zero, once more than this fraction of its finished trials
    # failed (an exception, NaN/Inf, or a malformed return value).
    max_failure_rate: float = 0.5

    # Search space: key -> Hydra override grammar (choice, range (end excluded), interval,
    # int(interval), tag(log, ...)). A plain value is a fixed override for every job.
    params: dict[str, str] = field(default_factory=dict)

    # 'module.function' called as fn(cfg, trial) after each ask, to suggest further parameters.
    custom_search_space: str | None = None

    # Any optuna.pruners.* as a `_target_` mapping (or the pruner group), or null.
    # Single-objective studies only.
    # (Typed Any: OmegaConf cannot merge a command-line mapping into a null typed dict.)
    pruner: Any = None

    # Budgets, {metric: limit}: a trial whose metric exceeds its limit is infeasible. Only
    # trainable_params (known before training): such a trial is recorded with Optuna's
    # Trial.set_constraint and ends PRUNED (user attr prune_reason: over budget) untrained, with
    # no MLflow run; it never counts against max_failure_rate, and TPE steers away from it.
    # On the command line: hydra.sweeper.constraints={trainable_params: 50000}. null: no budget.
    # (Typed Any, as `pruner`: OmegaConf cannot merge a command-line mapping into a typed dict.)
    constraints: Any = None

    # Parameter sets ({key: value}) run first, once per study (remembered in a study user attr).
    enqueue: list[dict[str, Any]] = field(default_factory=list)

    # Base seed. Each invocation seeds its sampler from it, the worker (see `worker`) and the
    # study's trial count: no two workers replay the same suggestions, and one worker on a fresh
    # storage always draws the same ones. null: unseeded.
    seed: int | None = None

    # This invocation's name among the study's concurrent workers, for its sampler seed; must be
    # unique among them. null: SLURM_ARRAY_TASK_ID, else SLURM_PROCID, else the order in which
    # the storage saw the workers register (0 for the first invocation on a fresh storage).
    worker: str | None = None

    # 'module.function' called as fn(study=..., config=...) before the first batch / after the
    # last (also when the failure budget stops the sweep).
    on_sweep_start: str | None = None
    on_sweep_end: str | None = None

    # 'module.function' called as fn(study=..., trial=..., config=...) after each trial of this
    # worker is told (trial: its FrozenTrial), e.g. to chart the sweep while it runs.
    on_trial_end: str | None = None

    # 'module.function' called as fn(config=...) before the study is opened: a ValueError it
    # raises stops the sweep with one line, before any storage, run or trial exists.
    preflight: str | None = None

    # Liveness of RUNNING trials. The worker stamps each of its trials every heartbeat_interval
    # seconds; a trial silent for grace_period seconds belongs to a dead worker: it is failed and
    # its parameters re-queued once. Hosts sharing a study need synchronised clocks (NTP).
    heartbeat_interval: float = 10.0
    grace_period: float = 60.0

    # A result the study storage does not take (a database that is down) is retried
    # tell_attempts times in all, waiting tell_backoff seconds, then twice as long each time (at
    # most 60 s). If the storage stays down, the worker saves the result in the trial's folder
    # (trial-NNNN/pending_result.json) and exits with status 75; the next start of the sweep
    # tells it to the study, if the trial is still RUNNING.
    tell_attempts: int = 5
    tell_backoff: float = 1.0
    # A resumed study whose search space, direction, objectives or schedule differ from those
    # recorded when it was created (its definition fingerprint): refuse (one line showing the
    # difference, before the sweep folder is touched), accept (continue the study and record
    # the new definition; a direction cannot change) or new_study (a study named
    # <study_name>-<fingerprint>, in a sweep folder of that name).
    on_definition_change: str = "refuse"


ConfigStore.instance().store(
    group="hydra/sweeper", name="freezesweep", node=FreezesweepSweeperConf, provider="freezesweep"
)
register_groups()


class SweepConfigError(CompactHydraException, ValueError):
    """A bad `hydra.sweeper.*` setting: Hydra prints compact exceptions as one line."""


class FreezesweepSweeper(Sweeper):
    """Optuna 5 ask/tell over Hydra jobs; configured by `FreezesweepSweeperConf`."""

    def __init__(self, **conf: Any) -> None:
        from ._impl import FreezesweepSweeperImpl

        self.sweeper = FreezesweepSweeperImpl(conf)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        try:
            self.sweeper.setup(
                hydra_context=hydra_context, task_function=task_function, config=config
            )
        except ValueError as error:
            raise SweepConfigError(_redacted(error)) from None

    def sweep(self, arguments: list[str]) -> list[Any]:
        try:
            returns: list[Any] = self.sweeper.sweep(arguments)
        except ValueError as error:
            # Job errors never get here (Hydra keeps them in each JobReturn): this is the search
            # space, the enqueued sets or the composed sample job, all checked before the study.
            raise SweepConfigError(_redacted(error)) from None
        return returns


def _redacted(error: BaseException) -> str:
    """The one line printed for a bad setting, with any secret it quotes hidden."""
    from freezesweep.redaction import redact

    return redact(str(error))


__all__ = ["FreezesweepSweeper", "FreezesweepSweeperConf", "SweepConfigError"]
