"""Every private API of Keras, Optuna and Hydra that freezesweep touches, fenced in one place.

Each function names what it reaches into and the versions it was checked on; `tests/test_compat.py`
calls each against the installed libraries, so an upgrade that removes one fails there, loudly,
instead of deep inside a sweep.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "HYDRA_BASIC_LAUNCHER_LOGGER",
    "SUBMITIT_WATCHER_PRIVATE",
    "failed_job_return",
    "flatten_layers",
    "hydra_apply_overrides",
    "hydra_check_loaded_configs",
    "hydra_override_dirname",
    "job_error",
    "keras_file_hash_matches",
    "keras_get_file_replaced",
    "pruner_warmup_steps",
    "study_id",
    "study_storage",
    "submitit_sbatch_script",
    "tf_custom_gradients_released",
    "trial_id",
]

HYDRA_BASIC_LAUNCHER_LOGGER = "hydra._internal.core_plugins.basic_launcher"
"""The logger of Hydra's basic launcher (Hydra 1.3.2), quietened inside sweeps."""

SUBMITIT_WATCHER_PRIVATE = ("_make_command", "_registered", "_finished")
"""What the sweeper plugin's `launchers._watcher.FallbackWatcher` overrides or reads of submitit
1.5's `SlurmInfoWatcher`."""


TF_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"
"""How TensorFlow 2.21 names the graph-mode gradients `tf.custom_gradient` registers."""


@contextmanager
def tf_custom_gradients_released() -> Iterator[None]:
    """Unregisters the custom gradients TensorFlow registered globally during the block.

    TensorFlow 2.21: `tf.custom_gradient` in graph mode registers each traced gradient in the
    global `ops._gradient_registry` (a `Registry`, its dict `_registry`) and never removes it.
    Keras 3.15.1's TensorFlow optimizer all-reduces gradients in the default replica context,
    whose `all_reduce` is such a custom gradient, so every traced train step kept its whole graph
    reachable after the model was gone: about 25 MiB per in-process trial. Use it around a whole
    trial, whose traced functions are not called again once it ends.
    """
    if "tensorflow" not in sys.modules:  # another backend, and nothing imported TensorFlow
        yield
        return
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    before = set(registry)
    try:
        yield
    finally:
        for key in [k for k in registry if k not in before]:
            if key.startswith(TF_CUSTOM_GRADIENT_PREFIX):
                del registry[key]


def flatten_layers(layer: Any, *, include_self: bool = True, recursive: bool = True) -> list[Any]:
    """Every layer inside `layer`, containers before their layers (nested models included).

    Keras 3.15.1: `Layer._flatten_layers`; the public `Model.layers` is one level only.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


@contextmanager
def keras_get_file_replaced(replacement: Callable[..., str]) -> Iterator[None]:
    """Route `keras.applications`' weight downloads to `replacement` while the block runs.

    Keras 3.15.1: the applications call `keras.src.utils.file_utils.get_file` at build time.
    """
    from keras.src.utils import file_utils

    original = file_utils.get_file
    file_utils.get_file = replacement
    try:
        yield
    finally:
        file_utils.get_file = original


def keras_file_hash_matches(path: str, file_hash: str) -> bool:
    """Keras's own check of a cached download against the hash it expects.

    Keras 3.15.1: `keras.src.utils.file_utils.validate_file`.
    """
    from keras.src.utils import file_utils

    return bool(file_utils.validate_file(path, file_hash))


def study_storage(study: Any) -> Any:
    """The storage object behind an `optuna.Study` (to write trial state and system attrs).

    Optuna 5.0: `Study._storage`; the public API has no setter for another worker's trial.
    """
    return study._storage


def study_id(study: Any) -> int:
    """The storage id of an `optuna.Study` (to create a trial in it through the storage).

    Optuna 5.0: `Study._study_id`.
    """
    return int(study._study_id)


def trial_id(trial: Any) -> int:
    """The storage id of an `optuna.Trial` or `FrozenTrial` (not its per-study number).

    Optuna 5.0: `Trial._trial_id` and `FrozenTrial._trial_id`.
    """
    return int(trial._trial_id)


def pruner_warmup_steps(pruner: Any) -> int:
    """The steps before which an Optuna pruner never prunes (0 when unknown).

    Optuna 5.0: `PercentilePruner._n_warmup_steps` (`MedianPruner` is one); its `prune` returns
    `False` for any step below it, after reading every trial of the study.
    """
    import optuna

    if isinstance(pruner, optuna.pruners.PercentilePruner):
        return int(pruner._n_warmup_steps)
    return 0


def job_error(result: Any) -> BaseException | Any:
    """What a failed Hydra job raised, without re-raising it (`return_value` would).

    Hydra 1.3.2: `JobReturn._return_value`.
    """
    return result._return_value


def failed_job_return(overrides: list[str], error: BaseException) -> Any:
    """A FAILED Hydra `JobReturn` carrying `error`, for a job that never returned.

    Hydra 1.3.2: `JobReturn._return_value`, which the public `return_value` re-raises.
    """
    from hydra.core.utils import JobReturn, JobStatus

    failed = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    set_job_error(failed, error)
    return failed


def set_job_error(result: Any, error: BaseException) -> None:
    """Replace what a FAILED Hydra `JobReturn` carries (its other fields stay).

    Hydra 1.3.2: `JobReturn._return_value`, which the public `return_value` re-raises.
    """
    result._return_value = error


def hydra_apply_overrides(overrides: list[Any], cfg: Any) -> None:
    """Applies parsed value overrides to a composed config exactly as Hydra's composition does.

    Hydra 1.3.2: the static `ConfigLoaderImpl._apply_overrides_to_config` (struct-mode checks,
    `++` force-add, type validation), which composition runs after merging the defaults list.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)


def hydra_check_loaded_configs(
    check: Callable[[Any], None], explain: Callable[[Any], str | None] | None = None
) -> None:
    """Runs `check(cfg)` on every config Hydra loads, before Hydra uses it: a `ValueError` it
    raises becomes Hydra's one-line error (`CompactHydraException`, exit status 1); so does the
    cause of a config Hydra could not compose, in the line `explain` gives for it.

    Hydra 1.3.8: wraps `ConfigLoaderImpl.load_configuration`, which `Hydra.compose_config` calls
    before it configures `hydra_logging`, and `run`/`multirun` before they instantiate
    `hydra.callbacks`, the sweeper and the launcher, or make any folder (the compose API and the
    sweeper's job configs go through it too). Installing twice wraps once (the second may add
    `explain`).

    Args:
        check: raises `ValueError` naming the key at fault.
        explain: the one line for the cause of a composition error (`None`: Hydra's own
            message stands). Defaults to `None`.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import CompactHydraException, ConfigCompositionException

    original = ConfigLoaderImpl.load_configuration
    if getattr(original, "_freezesweep_checked", False):
        if explain is not None:  # a later installation may bring what an earlier one lacked
            original._freezesweep_explain = explain  # type: ignore[attr-defined]
        return

    def load_configuration(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            cfg = original(self, *args, **kwargs)
        except ConfigCompositionException as error:
            said = load_configuration._freezesweep_explain  # type: ignore[attr-defined]
            line = said(error.__cause__) if said is not None else None
            if line is None:
                raise
            # Hydra would print its cause whole: OmegaConf's lines may quote a password's text.
            raise CompactHydraException(line) from None
        try:
            check(cfg)
        except ValueError as error:
            raise CompactHydraException(str(error)) from None
        return cfg

    load_configuration._freezesweep_checked = True  # type: ignore[attr-defined]
    load_configuration._freezesweep_explain = explain  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]


def hydra_override_dirname(
    overrides: list[Any], *, exclude_keys: list[str], item_sep: str, kv_sep: str
) -> str:
    """`hydra.job.override_dirname` for a job's parsed task overrides, as Hydra computes it.

    Hydra 1.3.2: `hydra._internal.config_loader_impl.get_overrides_dirname`.
    """
    from hydra._internal.config_loader_impl import get_overrides_dirname

    dirname: str = get_overrides_dirname(
        overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep
    )
    return dirname


def submitit_sbatch_script(executor: Any, *, command: str, array_size: int) -> str:
    """The sbatch script submitit would submit for an `AutoExecutor` on SLURM.

    submitit 1.5: `AutoExecutor._executor` and `submitit.slurm.slurm._make_sbatch_string`.
    """
    from submitit.slurm.slurm import _make_sbatch_string

    inner = executor._executor
    script: str = _make_sbatch_string(
        command=command, folder=inner.folder, map_count=array_size, **inner.parameters
    )
    return script
