"""The configuration of `hydra/sweeper: freezesweep`: its keys, and its sampler and pruner groups.

`FreezesweepSweeperConf` is the `hydra.sweeper` node (the names of Hydra's Optuna sweeper, plus a
few); the comment above each field is its documentation (the configuration reference is generated
from it). The `hydra/sweeper/sampler` and `hydra/sweeper/pruner` config groups carry the option
names of Hydra's Optuna sweeper (`tpe`, `random`, `grid`, `cmaes`, `nsgaii`, `motpe`, `qmc`, `gp`),
plus the Optuna 5 samplers it lacks (`bruteforce`, `nsgaiii`) and one option per Optuna pruner.
An option is its `_target_` and that class's keyword arguments, all null: the sweeper drops null
keys, so Optuna's own defaults apply, a sweep file's keys merged on top (`sampler: {seed: 0}`) go
to whichever sampler is selected, `hydra/sweeper/sampler=random` on the command line swaps the
sampler cleanly, and a sweep file's `_target_` mapping replaces the default TPE without inheriting
TPE's arguments.

Registered when this module is imported (Hydra's plugin scan imports it, as does `sweeper.py`),
so it imports nothing heavier than Hydra.
"""

# No `from __future__ import annotations` here: Hydra's plugin scanner executes this module
# before registering it in sys.modules, and dataclasses then fail to resolve string annotations.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf


@dataclass
class FreezesweepSweeperConf:
    """The keys of `hydra.sweeper` (the names of Hydra's Optuna sweeper, plus a few)."""

    # The class Hydra instantiates: the public sweeper (leave as it is).
    _target_: str = "hydra_plugins.freezesweep_sweeper.sweeper.FreezesweepSweeper"
    # The sampler and pruner specs reach the sweeper as mappings: it seeds the sampler per worker
    # and hands the pruner's spec to every job, so Hydra must not instantiate them first.
    _recursive_: bool = False

    # The sampler and pruner config groups (`SAMPLERS`, `PRUNERS`), as in Hydra's Optuna sweeper:
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

    # Earlier studies whose finished trials the sampler starts from (the sweep's history, never
    # counted toward n_trials, left out of reports, promotion and the parent run's summary): a
    # list whose items are a study name in this sweep's storage or {study: NAME, storage: URL}.
    # The earlier study must have the same direction(s) and have searched every parameter of
    # this space with the same kind of distribution; its trials whose values lie outside this
    # space are skipped, its parameters outside it dropped. Applied once, when the study is
    # created (a study added to the list later is added by the next invocation).
    warm_start: list[Any] | None = None


_TPE = (
    "consider_prior", "prior_weight", "consider_magic_clip", "consider_endpoints",
    "n_startup_trials", "n_ei_candidates", "gamma", "weights", "multivariate", "group",
    "warn_independent_sampling", "constant_liar", "constraints_func",
)  # fmt: skip
_NSGA = (
    "population_size", "mutation", "mutation_prob", "crossover", "crossover_prob",
    "swapping_prob", "constraints_func", "elite_population_selection_strategy",
    "child_generation_strategy", "after_trial_strategy",
)  # fmt: skip

SAMPLERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tpe": ("optuna.samplers.TPESampler", _TPE),
    "random": ("optuna.samplers.RandomSampler", ()),
    # The search space is filled in from `params` when the study is opened (as in Hydra's).
    "grid": ("optuna.samplers.GridSampler", ()),
    "cmaes": (
        "optuna.samplers.CmaEsSampler",
        (
            "x0",
            "sigma0",
            "n_startup_trials",
            "independent_sampler",
            "warn_independent_sampling",
            "consider_pruned_trials",
            "restart_strategy",
            "popsize",
            "inc_popsize",
            "use_separable_cma",
            "with_margin",
            "lr_adapt",
            "source_trials",
        ),
    ),
    "nsgaii": ("optuna.samplers.NSGAIISampler", _NSGA),
    # Optuna 4 removed MOTPESampler; TPESampler handles several objectives itself.
    "motpe": ("optuna.samplers.TPESampler", _TPE),
    "qmc": (
        "optuna.samplers.QMCSampler",
        (
            "qmc_type",
            "scramble",
            "independent_sampler",
            "warn_asynchronous_seeding",
            "warn_independent_sampling",
        ),
    ),
    "gp": (
        "optuna.samplers.GPSampler",
        (
            "independent_sampler",
            "n_startup_trials",
            "deterministic_objective",
            "constraints_func",
            "warn_independent_sampling",
        ),
    ),
    "bruteforce": ("optuna.samplers.BruteForceSampler", ("avoid_premature_stop",)),
    "nsgaiii": (
        "optuna.samplers.NSGAIIISampler",
        (*_NSGA[:7], "reference_points", "dividing_parameter", *_NSGA[7:]),
    ),
}
"""Option name -> (sampler class, its keyword arguments besides `seed`)."""

PRUNERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "median": (
        "optuna.pruners.MedianPruner",
        ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"),
    ),
    "percentile": (
        "optuna.pruners.PercentilePruner",
        ("percentile", "n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"),
    ),
    "successive_halving": (
        "optuna.pruners.SuccessiveHalvingPruner",
        ("min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"),
    ),
    "hyperband": (
        "optuna.pruners.HyperbandPruner",
        ("min_resource", "max_resource", "reduction_factor", "bootstrap_count"),
    ),
    "threshold": (
        "optuna.pruners.ThresholdPruner",
        ("lower", "upper", "n_warmup_steps", "interval_steps"),
    ),
    "patient": ("optuna.pruners.PatientPruner", ("wrapped_pruner", "patience", "min_delta")),
    "wilcoxon": ("optuna.pruners.WilcoxonPruner", ("p_threshold", "n_startup_steps")),
    "nop": ("optuna.pruners.NopPruner", ()),
}
"""Option name -> (pruner class, its keyword arguments); no option selected: no pruner."""


FIRST_STAGE_EPOCHS = "freezesweep.first_stage_epochs_plus"
"""The resolver `${freezesweep.first_stage_epochs_plus:N}`: the first stage's epochs plus N."""


def first_stage_epochs_plus(extra: int = 0, *, _root_: Any) -> int:
    """The epochs of `schedule.stages[0]` plus `extra`, read from the composed config.

    A pruner's warm-up is counted in reported steps (cumulative epochs); the head stage of a
    two-stage schedule is identical in every trial, so a pruner should wait it out whatever its
    length (10 epochs in the default schedule, 5 in the real tasks' experiments).

    Raises:
        ValueError: naming the key, when the config has no first stage with `epochs`.
    """
    epochs = OmegaConf.select(_root_, "schedule.stages.0.epochs", default=None)
    if not isinstance(epochs, int):
        raise ValueError(
            f"${{{FIRST_STAGE_EPOCHS}:{extra}}} needs schedule.stages.0.epochs (an integer); "
            f"got {epochs!r}."
        )
    return epochs + int(extra)


def register() -> None:
    """Stores `FreezesweepSweeperConf` as `hydra/sweeper: freezesweep`, and every sampler and
    pruner option as `hydra/sweeper/sampler` and `hydra/sweeper/pruner`; registers the
    `freezesweep.first_stage_epochs_plus` resolver.

    Each option declares its class's keyword arguments as null ("Optuna's default"; the
    sweeper drops null keys), so `hydra.sweeper.pruner.n_warmup_steps=3` needs no `+`.
    """
    OmegaConf.register_new_resolver(FIRST_STAGE_EPOCHS, first_stage_epochs_plus, replace=True)
    store = ConfigStore.instance()
    store.store(
        group="hydra/sweeper",
        name="freezesweep",
        node=FreezesweepSweeperConf,
        provider="freezesweep",
    )
    for name, (target, arguments) in SAMPLERS.items():
        # Every Optuna 5 sampler takes a seed: `hydra.sweeper.sampler.seed=1` needs no `+`.
        node = {"_target_": target, "seed": None, **dict.fromkeys(arguments)}
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="freezesweep")
    for name, (target, arguments) in PRUNERS.items():
        node = {"_target_": target, **dict.fromkeys(arguments)}
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="freezesweep")


register()
