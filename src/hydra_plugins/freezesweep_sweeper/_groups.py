"""The `hydra/sweeper/sampler` and `hydra/sweeper/pruner` config groups.

The option names are those of Hydra's Optuna sweeper (`tpe`, `random`, `grid`, `cmaes`,
`nsgaii`, `motpe`, `qmc`, `gp`), plus the Optuna 5 samplers it lacks (`bruteforce`, `nsgaiii`)
and one option per Optuna pruner. Each option holds only its `_target_` (and a sampler's `seed`,
null): Optuna's own defaults apply, and a sweep file's keys merged on top (`sampler: {seed: 0}`)
go to whichever sampler is selected, so `hydra/sweeper/sampler=random` on the command line swaps
the sampler cleanly, and a sweep file's `_target_` mapping replaces the default TPE without
inheriting TPE's keys.

Registered when Hydra scans plugins, so this module imports nothing heavier than Hydra.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

SAMPLERS: dict[str, str] = {
    "tpe": "optuna.samplers.TPESampler",
    "random": "optuna.samplers.RandomSampler",
    # The search space is filled in from `params` when the study is opened (as in Hydra's).
    "grid": "optuna.samplers.GridSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
    "nsgaii": "optuna.samplers.NSGAIISampler",
    # Optuna 4 removed MOTPESampler; TPESampler handles several objectives itself.
    "motpe": "optuna.samplers.TPESampler",
    "qmc": "optuna.samplers.QMCSampler",
    "gp": "optuna.samplers.GPSampler",
    "bruteforce": "optuna.samplers.BruteForceSampler",
    "nsgaiii": "optuna.samplers.NSGAIIISampler",
}
"""Option name -> sampler class, for `hydra/sweeper/sampler=NAME`."""

PRUNERS: dict[str, str] = {
    "median": "optuna.pruners.MedianPruner",
    "percentile": "optuna.pruners.PercentilePruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "hyperband": "optuna.pruners.HyperbandPruner",
    "threshold": "optuna.pruners.ThresholdPruner",
    "patient": "optuna.pruners.PatientPruner",
    "wilcoxon": "optuna.pruners.WilcoxonPruner",
    "nop": "optuna.pruners.NopPruner",
}
"""Option name -> pruner class, for `hydra/sweeper/pruner=NAME` (no option: no pruner)."""


def register_groups() -> None:
    """Stores every sampler and pruner option in Hydra's ConfigStore."""
    store = ConfigStore.instance()
    for name, target in SAMPLERS.items():
        store.store(
            group="hydra/sweeper/sampler",
            name=name,
            # Every Optuna 5 sampler takes a seed: `hydra.sweeper.sampler.seed=1` needs no `+`.
            node={"_target_": target, "seed": None},
            provider="freezesweep",
        )
    for name, target in PRUNERS.items():
        store.store(
            group="hydra/sweeper/pruner",
            name=name,
            node={"_target_": target},
            provider="freezesweep",
        )
