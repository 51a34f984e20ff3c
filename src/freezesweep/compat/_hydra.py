"""The private Hydra and submitit APIs freezesweep touches (see `freezesweep.compat`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HYDRA_BASIC_LAUNCHER_LOGGER = "hydra._internal.core_plugins.basic_launcher"
"""The logger of Hydra's basic launcher (Hydra 1.3.2), quietened inside sweeps."""

SUBMITIT_WATCHER_PRIVATE = ("_make_command", "_registered", "_finished")
"""What the sweeper plugin's `launchers._watcher.FallbackWatcher` overrides or reads of submitit
1.5's `SlurmInfoWatcher`."""


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
