"""P6-long: resident memory after 500 in-process simulated trials / after 20.

The trials run in this process as a sweep's in-process jobs do (Hydra's basic launcher): each is
asked from one Optuna study (TPE, the default sweep's median pruner), run through `run_trial`
with `trainer.simulate=surface` (re-attached to its trial, reporting every epoch to the pruner,
its MLflow run nested under the study's parent) and told. What could pile up over a long sweep
in one process is the framework's (Optuna's study objects and storages, MLflow's clients and
runs, Hydra's composed configs): no model is built, so Keras's own growth is P6's.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import optuna

from freezesweep import compat
from freezesweep.bench._common import PairResult, compose, timed
from freezesweep.bench._overhead_pairs import resident_bytes
from freezesweep.study.attributes import PRUNER_ATTR
from freezesweep.study.pruning import pruner_from_spec

# The default sweep's pruner (conf/hydra/sweeper/pruner/median_after_head.yaml).
PRUNER = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5, "n_warmup_steps": 13}


def p6_long_memory(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Resident memory after 500 simulated in-process trials (60 with `quick`) / after 20."""
    from freezesweep.trial import run_trial

    last, first = (60, 20) if quick else (500, 20)
    ratios = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as text:
            folder = Path(text)
            storage = f"sqlite:///{folder / 'optuna.db'}"
            pruner = pruner_from_spec(PRUNER)
            sampler = optuna.samplers.TPESampler(n_startup_trials=6, seed=0)
            study = optuna.create_study(
                study_name="long", storage=storage, direction="maximize", sampler=sampler,
                pruner=pruner,
            )  # fmt: skip
            after = {}
            for number in range(1, last + 1):
                trial = study.ask()
                # What the sweeper writes on each trial: the pruner its job rebuilds.
                compat.study_storage(study).set_trial_system_attr(
                    compat.trial_id(trial), PRUNER_ATTR, PRUNER
                )
                cfg = compose(
                    config_dir, "trainer.simulate=surface", "tracking.enabled=true",
                    f"tracking.default_uri=sqlite:///{folder / 'mlflow.db'}",
                    f"finetune.top_k={trial.suggest_int('finetune.top_k', 0, 4)}",
                    f"finetune.lr={trial.suggest_float('finetune.lr', 1e-5, 1e-2, log=True)}",
                    f"trial.number={trial.number}", "trial.study_name=long",
                    f"trial.storage={storage}",
                )  # fmt: skip
                job = functools.partial(run_trial, cfg, output_dir=folder / f"trial-{number:04d}")
                try:
                    value = timed(job)[1]
                    study.tell(trial, value)
                except optuna.TrialPruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                after[number] = resident_bytes()
            ratios.append(after[last] / after[first])
    return PairResult(
        "P6-long", f"resident memory after {last} / after {first} in-process simulated trials",
        tuple(ratios), "each trial asked from one study, run by run_trial, told; MLflow tracked",
    )  # fmt: skip
