"""The Hydra app: `python sweep.py` runs one trial, `python sweep.py -m` runs a sweep."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from freezesweep.objective import run_trial


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | tuple[float, ...]:
    return run_trial(cfg)


if __name__ == "__main__":
    main()
