"""The Hydra app: `python sweep.py` runs one trial, `python sweep.py -m` runs a sweep."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from freezesweep.console import quiet_tensorflow

# Before anything imports TensorFlow: its C++ log lines (oneDNN notices, absl warnings, "E0000 ...
# NodeDef mentions attribute") read like errors and bury the sweep's own lines. A value the user
# set is kept, so TF_CPP_MIN_LOG_LEVEL=0 brings them back.
quiet_tensorflow()

from freezesweep.errors import ConfigError  # noqa: E402
from freezesweep.trial import run_trial  # noqa: E402

# conf/hydra/launcher/submitit_*.yaml deliberately share their names with the plugin's schemas,
# so Hydra type-checks their keys against them; it warns that this matching is deprecated.
warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | tuple[float, ...]:
    try:
        return run_trial(cfg, output_dir=Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweeper records it as the trial's failure reason
        # A single run: one clear line naming the key, not a traceback.
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
