"""A tiny Hydra app for the sweeper's end-to-end tests: a cheap objective of `x` and `n`.

Failures on demand: `raise_on` / `nan_on` list the trial numbers that raise or return NaN;
`die_on` ones kill their own process (a job dying at the scheduler level). With `trial.number`
set it re-attaches to its Optuna trial and reports one value per "epoch" (`sleep_s` each, so a
test can kill or signal a worker mid-trial). `hold_on` trials, after their first epoch, write
`held-N` in the working directory and wait for `release-N` there (a test stops a server in
between). `tracking.enabled=true` records each trial as an MLflow child run of the study, as the
real app does: params, a metric per epoch, the final score and a `result.json` artifact, spooled
to `<sweep dir>/mlflow_spool/` while a tracking server is down.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from freezesweep.spec.read import tracking_spec
from freezesweep.study.pruning import attach_trial


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | tuple[float, float]:
    out = HydraConfig.get().runtime.output_dir
    with open(f"{out}/result.json", "w") as file:
        json.dump({"number": cfg.trial.number, "x": cfg.x, "n": cfg.n, "pid": os.getpid()}, file)
    with _tracked(cfg) as log_metric:
        if cfg.trial.number in cfg.die_on:
            os.kill(os.getpid(), signal.SIGKILL)
        if cfg.trial.number in cfg.raise_on:
            raise RuntimeError(f"asked to fail in trial {cfg.trial.number}")
        if cfg.trial.number in cfg.nan_on:
            return math.nan
        score = 1.0 - (cfg.x - 0.3) ** 2 - 0.01 * cfg.n
        if cfg.trial.number is not None and not cfg.pareto:
            trial = attach_trial(cfg.trial.study_name, cfg.trial.storage, cfg.trial.number)
            for epoch in range(cfg.epochs):
                time.sleep(cfg.sleep_s)
                trial.report(score * (epoch + 1) / cfg.epochs, step=epoch)
                log_metric("epoch_score", score * (epoch + 1) / cfg.epochs, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")
                if epoch == 0 and cfg.trial.number in cfg.hold_on:
                    _hold(cfg.trial.number)
        log_metric("val_accuracy", score, 0)
    return (score, float(cfg.n)) if cfg.pareto else score


def _hold(number: int) -> None:
    Path(f"held-{number}").touch()
    while not Path(f"release-{number}").exists():
        time.sleep(0.1)


@contextlib.contextmanager
def _tracked(cfg: DictConfig) -> Iterator[Callable[[str, float, int], None]]:
    spec = tracking_spec(cfg)
    if not spec.enabled or cfg.trial.number is None:
        yield lambda key, value, step: None
        return
    from freezesweep import tracking

    with tracking.trial_run(
        spec,
        run_name=f"trial-{cfg.trial.number:04d}",
        experiment=cfg.trial.study_name,
        tags={tracking.TRIAL_TAG: str(cfg.trial.number)},
        study_name=cfg.trial.study_name,
        spool=Path(HydraConfig.get().sweep.dir) / tracking.SPOOL_FOLDER,
    ) as run:
        run.log_params(tracking.flatten({"x": cfg.x, "n": cfg.n, "trial": dict(cfg.trial)}))
        yield lambda key, value, step: run.log_metrics({key: value}, step=step)
        run.log_text(json.dumps({"x": cfg.x, "n": cfg.n}), "result.json")


def record_hook(study: optuna.Study, config: DictConfig) -> None:
    """Sweeper hook for the tests: appends what it was handed to hooks.jsonl in the cwd."""
    with open("hooks.jsonl", "a") as file:
        finished = [t for t in study.trials if t.state.is_finished()]
        print(
            json.dumps({"finished": len(finished), "study": config.hydra.sweeper.study_name}),
            file=file,
        )


def record_trial_hook(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, config: DictConfig
) -> None:
    """on_trial_end hook for the tests: appends the told trial's number and state to a file."""
    with open("trials.jsonl", "a") as file:
        print(json.dumps({"number": trial.number, "state": trial.state.name}), file=file)


def end_refused_by_mlflow(study: optuna.Study, config: DictConfig) -> None:
    """on_sweep_end hook for the tests: the project's own, with MLflow refusing the report (an
    error of the server's, not a server that is down)."""
    from mlflow.exceptions import MlflowException

    from freezesweep import tracking
    from freezesweep.study.hooks import on_sweep_end

    def refuse(*args: object, **kwargs: object) -> None:
        raise MlflowException("INTERNAL_ERROR: the server refused the report")

    tracking.publish_study_report = refuse  # type: ignore[assignment]
    on_sweep_end(study, config)


if __name__ == "__main__":
    main()
