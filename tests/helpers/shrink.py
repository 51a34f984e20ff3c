"""Compose the real config tree, then shrink it: one epoch per stage, tiny data, temp stores."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def small_overrides(tmp_path: Path) -> list[str]:
    """Overrides that make a trial take seconds and write only under `tmp_path`."""
    return [
        "schedule.stages.0.epochs=1",
        "schedule.stages.1.epochs=1",
        "data.train_per_class=5",
        "trainer.verbose=0",
        f"tracking.default_uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
        f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
    ]


def compose_config(
    tmp_path: Path, *overrides: str, small: bool = True, return_hydra_config: bool = False
) -> DictConfig:
    """The real `conf/config.yaml` with the test's overrides (applied after the shrinking ones)."""
    base = small_overrides(tmp_path) if small else []
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "config", overrides=[*base, *overrides], return_hydra_config=return_hydra_config
        )
