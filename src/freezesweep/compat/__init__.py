"""Every private API of Keras, Optuna and Hydra that freezesweep touches, fenced in one place:
this package (`_keras`, `_optuna`, `_hydra`), which nothing else in freezesweep reaches around.

Each function names what it reaches into and the versions it was checked on; `tests/test_compat.py`
calls each against the installed libraries, so an upgrade that removes one fails there, loudly,
instead of deep inside a sweep.
"""

from freezesweep.compat._hydra import (
    HYDRA_BASIC_LAUNCHER_LOGGER,
    SUBMITIT_WATCHER_PRIVATE,
    failed_job_return,
    hydra_apply_overrides,
    hydra_check_loaded_configs,
    hydra_override_dirname,
    job_error,
    set_job_error,
    submitit_sbatch_script,
)
from freezesweep.compat._keras import (
    TF_CUSTOM_GRADIENT_PREFIX,
    flatten_layers,
    keras_file_hash_matches,
    keras_get_file_replaced,
    tf_custom_gradients_released,
)
from freezesweep.compat._optuna import (
    distribution_contains,
    pareto_front,
    pruner_warmup_steps,
    study_id,
    study_storage,
    study_view,
    trial_id,
)

__all__ = [
    "HYDRA_BASIC_LAUNCHER_LOGGER",
    "SUBMITIT_WATCHER_PRIVATE",
    "TF_CUSTOM_GRADIENT_PREFIX",
    "distribution_contains",
    "failed_job_return",
    "flatten_layers",
    "hydra_apply_overrides",
    "hydra_check_loaded_configs",
    "hydra_override_dirname",
    "job_error",
    "keras_file_hash_matches",
    "keras_get_file_replaced",
    "pareto_front",
    "pruner_warmup_steps",
    "set_job_error",
    "study_id",
    "study_storage",
    "study_view",
    "submitit_sbatch_script",
    "tf_custom_gradients_released",
    "trial_id",
]
