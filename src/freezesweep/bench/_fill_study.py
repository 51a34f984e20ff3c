"""P9's fast-forward: a simulated study grown to thousands of trials in minutes, not hours.

Trials are added straight to the study (`optuna.Study.add_trial`) and their MLflow runs
written through `freezesweep.tracking.trial_run`, with what a simulated sweep's trial records:
parameters drawn at random in the sweep's own distributions, the surface's per-epoch values as
intermediate values, the same user attrs and system attrs, one run under the study's parent
run with the resolved config as params and the epoch, stage and final metrics. Every added
trial is COMPLETE (a sweep prunes about a third, so the pruner's later reads see more
values than a real sweep's would). What is skipped is the sweep's own loop around each trial
(the sampler, Hydra's job, the hooks): the part P9 then times, on the trials after the fill.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
from pathlib import Path
from typing import Any

import optuna

from freezesweep.bench._common import compose
from freezesweep.objectives import ACCURACY
from freezesweep.simulate.answer import surface
from freezesweep.spec.read import trial_spec
from freezesweep.study.own_trials import own_trials
from freezesweep.study.storage import open_storage
from freezesweep.trial_records import EPOCH_PREFIX, FINAL_METRICS


def fill_study(config_dir: Path, url: str, mlflow_uri: str, stop: int, *, seed: int = 0) -> None:
    """Add COMPLETE trials to the study `bench` at `url` (and their runs to `mlflow_uri`) until
    it holds `stop` trials; its last trial gives the distributions and system attrs."""
    from freezesweep import tracking

    study = optuna.load_study(study_name="bench", storage=open_storage(url))
    trials = own_trials(study)
    template = trials[-1]
    spec = trial_spec(compose(config_dir, "trainer.simulate=surface", "tracking.enabled=true",
                              f"tracking.default_uri={mlflow_uri}"))  # fmt: skip
    draw = random.Random(seed)
    params_of_run = tracking.flatten(spec.resolved)
    for number in range(len(trials), stop):
        params = {key: _draw(draw, d) for key, d in template.distributions.items()}
        point = dataclasses.replace(
            spec, top_k=int(params["finetune.top_k"]), finetune_lr=float(params["finetune.lr"])
        )
        found = surface(point)
        run_id = _run(spec, number, params_of_run, params, found)
        trial = optuna.trial.create_trial(
            params=params, distributions=template.distributions, value=found.curve[-1],
            intermediate_values=dict(enumerate(found.curve)),
            user_attrs={
                "method": "unfreeze", "mlflow_run_id": run_id,
                "stage_epochs": list(found.stage_epochs),
                "stage_seconds": [0.0] * len(found.stage_epochs),
                "trainable_params": found.trainable_params,
            },
            system_attrs={k: v for k, v in template.system_attrs.items() if "relative" not in k},
        )  # fmt: skip
        study.add_trial(trial)
        if number % 500 == 0:
            print(f"  filled to {number} trials", file=sys.stderr, flush=True)


def _draw(draw: random.Random, distribution: Any) -> Any:
    low, high = distribution.low, distribution.high
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return draw.randint(int(low), int(high))
    if distribution.log:
        return math.exp(draw.uniform(math.log(low), math.log(high)))
    return draw.uniform(low, high)


def _run(spec: Any, number: int, config: dict[str, str], params: dict[str, Any], found: Any) -> str:
    from freezesweep import tracking

    with tracking.trial_run(
        spec.tracking, run_name=f"trial-{number:04d}", experiment="bench", study_name="bench",
        tags={tracking.TRIAL_TAG: str(number)},
    ) as run:  # fmt: skip
        run.log_params({**config, **{key: str(value) for key, value in params.items()}})
        for epoch, value in enumerate(found.curve):
            run.log_metrics({f"{EPOCH_PREFIX}{ACCURACY}": value}, step=epoch, defer=True)
        total = found.total_params
        values = (found.curve[-1], found.trainable_params, total - found.trainable_params,
                  found.trainable_params / total, 0.0)  # fmt: skip
        run.log_metrics(dict(zip(FINAL_METRICS, values, strict=True)))
        return str(run.run_id)
