"""The `hydra/sweeper/sampler` and `hydra/sweeper/pruner` config groups.

The option names are those of Hydra's Optuna sweeper (`tpe`, `random`, `grid`, `cmaes`,
`nsgaii`, `motpe`, `qmc`, `gp`), plus the Optuna 5 samplers it lacks (`bruteforce`, `nsgaiii`)
and one option per Optuna pruner. An option is its `_target_` and that class's keyword
arguments, all null: the sweeper drops null keys, so Optuna's own defaults apply, a sweep file's
keys merged on top (`sampler: {seed: 0}`) go to whichever sampler is selected,
`hydra/sweeper/sampler=random` on the command line swaps the sampler cleanly, and a sweep file's
`_target_` mapping replaces the default TPE without inheriting TPE's arguments.

Registered when Hydra scans plugins, so this module imports nothing heavier than Hydra.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

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


def register_groups() -> None:
    """Stores every sampler and pruner option in Hydra's ConfigStore.

    Each option declares its class's keyword arguments as null ("Optuna's default"; the
    sweeper drops null keys), so `hydra.sweeper.pruner.n_warmup_steps=3` needs no `+`.
    """
    store = ConfigStore.instance()
    for name, (target, arguments) in SAMPLERS.items():
        # Every Optuna 5 sampler takes a seed: `hydra.sweeper.sampler.seed=1` needs no `+`.
        node = {"_target_": target, "seed": None, **dict.fromkeys(arguments)}
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="freezesweep")
    for name, (target, arguments) in PRUNERS.items():
        node = {"_target_": target, **dict.fromkeys(arguments)}
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="freezesweep")
