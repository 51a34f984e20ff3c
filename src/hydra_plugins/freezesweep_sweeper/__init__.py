"""Hydra Sweeper plugin `hydra/sweeper: freezesweep`: Optuna 5 ask/tell, pruning, shared studies.

    sweeper.py     the public class Hydra finds (thin; imports the loop lazily)
    config.py      `FreezesweepSweeperConf` and the sampler/pruner config groups
    definition/    reading the sweep definition: settings, search space, sampler, fingerprint
    jobs/          what each job is given: overrides, passwords as env vars, reused configs
    trials/        the shared study: opening it, places, liveness, outcomes, pending results
    launchers/     submitit launchers (local, SLURM) whose dead jobs become FAIL trials
    loop/          the ask/tell loop: preflight, asking, batches, signals, progress lines
    replay/        a strategy replayed against a recorded grid (`freezesweep replay`, bench P7)

Hydra's plugin scan imports every module whose name does not start with `_`: the rooms'
modules are private (`_x.py`) and their `__init__` files empty, so the scan stays cheap.
"""
