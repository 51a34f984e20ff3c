"""The Hydra app: `python sweep.py` runs one trial, `python sweep.py -m` runs a sweep."""

from __future__ import annotations

import sys
import traceback
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from freezesweep.console import quiet_job_console, quiet_tensorflow, redact_console

# Before anything imports TensorFlow: its C++ log lines (oneDNN notices, absl warnings, "E0000 ...
# NodeDef mentions attribute") read like errors and bury the sweep's own lines. A value the user
# set is kept, so TF_CPP_MIN_LOG_LEVEL=0 brings them back.
quiet_tensorflow()

from freezesweep.compat import hydra_check_loaded_configs  # noqa: E402
from freezesweep.errors import ConfigError  # noqa: E402
from freezesweep.hydra_files import redact_saved_configs, remove_run_dir  # noqa: E402
from freezesweep.redaction import redact, redact_logs  # noqa: E402
from freezesweep.spec.read import check_hydra_settings, unreadable_value  # noqa: E402
from freezesweep.trial import run_trial  # noqa: E402

# What Hydra itself builds from the config (callbacks, logging handlers, its launcher) is checked
# against allow-lists before Hydra builds it: see freezesweep.hydra_guard and docs/security.md.
hydra_check_loaded_configs(check_hydra_settings, unreadable_value)

# conf/hydra/launcher/submitit_*.yaml deliberately share their names with the plugin's schemas,
# so Hydra type-checks their keys against them; it warns that this matching is deprecated.
warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | tuple[float, ...]:
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    # Hydra saved the configs and set up logging before calling us: no secret may stay in either.
    redact_saved_configs(output_dir)
    redact_logs()
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        quiet_job_console()
    try:
        return run_trial(cfg, output_dir=output_dir)
    except Exception as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweeper records it, redacted, as the trial's failure reason
        if isinstance(error, ConfigError):
            # A single run: one clear line naming the key, not a traceback, and no run folder.
            print(f"error: {redact(str(error))}", file=sys.stderr)
            remove_run_dir(output_dir)
            sys.exit(2)
        # Anything else keeps its traceback, with every secret it quotes hidden.
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        sys.exit(1)


if __name__ == "__main__":
    # Hydra prints a bad override before `main` runs, quoting it whole: hide secrets there too.
    redact_console()
    main()
