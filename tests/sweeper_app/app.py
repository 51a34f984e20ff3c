"""A tiny Hydra app for the sweeper's end-to-end tests: a cheap objective of `x` and `n`.

Failures on demand: `raise_on` / `nan_on` list the trial numbers that raise or return NaN. With
`trial.number` set it re-attaches to its Optuna trial and reports one value per "epoch".
"""

from __future__ import annotations

import json
import math

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from freezesweep.pruning import attach_trial


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | tuple[float, float]:
    out = HydraConfig.get().runtime.output_dir
    with open(f"{out}/result.json", "w") as file:
        json.dump({"number": cfg.trial.number, "x": cfg.x, "n": cfg.n}, file)
    if cfg.trial.number in cfg.raise_on:
        raise RuntimeError(f"asked to fail in trial {cfg.trial.number}")
    if cfg.trial.number in cfg.nan_on:
        return math.nan
    score = 1.0 - (cfg.x - 0.3) ** 2 - 0.01 * cfg.n
    if cfg.trial.number is not None and not cfg.pareto:
        trial = attach_trial(cfg.trial.study_name, cfg.trial.storage, cfg.trial.number)
        for epoch in range(cfg.epochs):
            trial.report(score * (epoch + 1) / cfg.epochs, step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")
    return (score, float(cfg.n)) if cfg.pareto else score


def record_hook(study: optuna.Study, config: DictConfig) -> None:
    """Sweeper hook for the tests: appends what it was handed to hooks.jsonl in the cwd."""
    with open("hooks.jsonl", "a") as file:
        finished = [t for t in study.trials if t.state.is_finished()]
        print(
            json.dumps({"finished": len(finished), "study": config.hydra.sweeper.study_name}),
            file=file,
        )


if __name__ == "__main__":
    main()
