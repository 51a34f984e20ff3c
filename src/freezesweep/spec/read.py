"""The one reader of the Hydra config: typed, validated, frozen specs for everything below.

Every check that needs only the config happens here, before any model, storage or run exists.
Checks that need the backbone (is `finetune.top_k` within its units, does a pattern match a layer)
happen in `freezesweep.freeze.plan_schedule`, still before training or tracking starts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from freezesweep import targets
from freezesweep.errors import ConfigError
from freezesweep.objectives import OBJECTIVES, default_objectives
from freezesweep.spec._checks import (
    choice,
    decay,
    default_of,
    integer,
    non_negative_number,
    positive_number,
    require,
    setting,
    str_keys,
)
from freezesweep.spec._schedule import read_schedule
from freezesweep.spec._simulation import read_simulation
from freezesweep.spec._sources import read_backbone, read_data
from freezesweep.spec._types import (
    LOG_MODEL,
    METHODS,
    MethodSpec,
    TrackingSpec,
    TrainerSpec,
    TrialRef,
    TrialSpec,
)

# Re-exported: `sweep.py` hands it to `compat.hydra_check_loaded_configs` with the check below.
from freezesweep.spec._urls import unreadable_value as unreadable_value

# The sweep-level `zero_cost` section (read by the sweeper's hooks, not by a trial).
from freezesweep.spec._zero_cost import ZeroCostSpec as ZeroCostSpec
from freezesweep.spec._zero_cost import zero_cost_spec as zero_cost_spec


def tracking_spec(cfg: Any, environment: Mapping[str, str] | None = None) -> TrackingSpec:
    """The tracking slice of a config (for the sweeper's hooks and `freezesweep report`).

    Args:
        cfg: a config with a `tracking` section.
        environment: environment variables. Defaults to `None` (use `os.environ`).
    """
    return _tracking(cfg, os.environ if environment is None else environment)


def log_model_mode(cfg: Any) -> str:
    """`trainer.log_model` of a config (for the sweeper's end-of-sweep hook); `none` for an app
    without a `trainer` section.

    Raises:
        ConfigError: not one of `pareto`, `best`, `all`, `none`.
    """
    trainer = cfg.get("trainer") or {}
    value = trainer.get("log_model", "none")
    return str(choice(value, "trainer.log_model", LOG_MODEL))


def saved_tracking_spec(
    saved: Path, uri: str | None = None, environment: Mapping[str, str] | None = None
) -> TrackingSpec:
    """Where `freezesweep sync` sends a sweep's spool: `uri` when given, else the sweep's own
    settings (its saved `multirun.yaml`), else `$MLFLOW_TRACKING_URI`.

    The saved file lies in the sweep's folder, which may be shared: it is read only when the
    user running `sync` owns it (someone else's file would choose where the records go, with
    the MLflow credentials of this environment), and a value it cannot resolve here (a password
    the sweep kept in `FREEZESWEEP_SECRET_...`, a variable of the sweep's own environment)
    falls back to `$MLFLOW_TRACKING_URI`.

    Args:
        saved: the sweep's `multirun.yaml`.
        uri: the tracking URI given on the command line. Defaults to `None`.
        environment: environment variables. Defaults to `None` (use `os.environ`).

    Raises:
        ConfigError: no URI given, none in the environment, and the saved one cannot be used.
    """
    environment = os.environ if environment is None else environment
    why, root = f"no {saved} (the sweep's saved settings)", ""
    if saved.is_file() and saved.stat().st_uid != os.getuid():
        why = f"{saved} belongs to another user; sync takes no destination from it"
    elif saved.is_file():
        try:
            config = OmegaConf.load(saved)
            if uri is None:
                return _tracking(config, environment)
            root = str(config.tracking.get("artifact_root") or "")
        except Exception as error:  # any YAML, key or interpolation error: one line
            cause = str(error).splitlines()[0] if str(error) else type(error).__name__
            why = f"{saved}: its tracking settings cannot be read here ({cause})"
    uri = uri or environment.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ConfigError(f"{why}; pass --tracking-uri or set MLFLOW_TRACKING_URI.")
    return TrackingSpec(True, uri, root, "")


def check_hydra_settings(cfg: DictConfig) -> None:
    """`freezesweep.hydra_guard.check_hydra` on a config Hydra has just loaded: its `hydra` node
    as written (unresolved: run-time values such as the output folder are not set yet).

    Args:
        cfg: the loaded config, `hydra` node included.

    Raises:
        ConfigError: a callback, logging class, launcher target, sweeper or job variable that
            would make Hydra build or load code outside the allow-lists; a URL setting that
            OmegaConf would read as an interpolation (`freezesweep.spec._urls`).
    """
    from freezesweep.hydra_guard import check_hydra
    from freezesweep.spec._urls import check_url_values

    check_url_values(cfg)
    if "hydra" not in cfg:
        return
    hydra = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert isinstance(hydra, dict)
    check_hydra(hydra, _plain(cfg.get("allowed_targets")))


def _tracking(cfg: Any, environment: Mapping[str, str]) -> TrackingSpec:
    tracking = cfg.tracking
    uri = tracking.get("uri") or environment.get("MLFLOW_TRACKING_URI") or tracking.default_uri
    # Any app's tracking section is read here (the sweeper's hooks), so a section may leave out
    # the flush interval: its default is `TrackingSpec`'s.
    flush = tracking.get("epoch_metrics_flush_s", default_of(TrackingSpec, "epoch_metrics_flush_s"))
    return TrackingSpec(
        enabled=bool(setting(tracking, "enabled", "tracking.enabled")),
        uri=str(uri),
        artifact_root=str(tracking.get("artifact_root") or ""),
        experiment=str(tracking.experiment),
        epoch_metrics_flush_s=non_negative_number(flush, "tracking.epoch_metrics_flush_s"),
    )


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def job_spec(job: DictConfig, environment: Mapping[str, str] | None = None) -> TrialSpec:
    """A sweep job's composed config (its `hydra` node included) read as its task will read it.

    Args:
        job: the job config, as the sweeper composes it.
        environment: see `trial_spec`. Defaults to `None`.
    """
    task = copy.deepcopy(job)
    with open_dict(task):
        task.pop("hydra", None)
    return trial_spec(task, environment)


def trial_spec(cfg: DictConfig, environment: Mapping[str, str] | None = None) -> TrialSpec:
    """Validate a composed config and turn it into a `TrialSpec`.

    Every setting the project's `conf/` carries is read from the config, never defaulted here:
    its default is written once, in the YAML. Settings a config may leave out (per-stage keys,
    `schedule.name`, the keys of another data kind or backbone source) default to the spec
    types' field defaults.

    Args:
        cfg: the composed Hydra job config.
        environment: environment variables to honour (`MLFLOW_TRACKING_URI`).
            Defaults to `None` (use `os.environ`).

    Returns:
        The validated, fully resolved trial specification.

    Raises:
        ConfigError: a `ValueError` whose message names the offending key, what it got and what
            is allowed.
    """
    environment = os.environ if environment is None else environment
    # Before any `_target_` is checked: the user's own modules join the allow-list.
    targets.allow_modules(_plain(cfg.get("allowed_targets")))
    finetune = cfg.get("finetune") or {}
    finetune_lr = positive_number(finetune.get("lr"), "finetune.lr")
    lr_decay = decay(setting(finetune, "lr_decay", "finetune.lr_decay"), "finetune.lr_decay")
    objectives = tuple(cfg.get("objectives") or default_objectives(1))
    for name in objectives:
        choice(name, "objectives", OBJECTIVES)
    trial = cfg.get("trial") or {}
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    return TrialSpec(
        seed=integer(setting(cfg, "seed", "seed"), "seed", 0),
        top_k=integer(finetune.get("top_k"), "finetune.top_k", 0),
        offset=integer(setting(finetune, "offset", "finetune.offset"), "finetune.offset", 0),
        finetune_lr=finetune_lr,
        objectives=objectives,
        backbone=read_backbone(cfg),
        data=read_data(cfg),
        schedule=read_schedule(cfg, finetune_lr, lr_decay, _method(finetune)),
        trainer=_trainer(cfg.trainer, sweep_job=trial.get("number") is not None),
        tracking=_tracking(cfg, environment),
        trial=TrialRef(
            number=trial.get("number"),
            study_name=trial.get("study_name"),
            storage=trial.get("storage"),
        ),
        resolved=str_keys(resolved),
        simulation=read_simulation(cfg.trainer),
    )


def _trainer(trainer: Any, *, sweep_job: bool) -> TrainerSpec:
    """`trainer.*`; in a job the sweeper started, `verbose: auto` trains silently (the sweeper
    prints one line per trial instead of epoch logs)."""
    verbose = setting(trainer, "verbose", "trainer.verbose")
    require(
        verbose in ("auto", 0, 1, 2), f"trainer.verbose must be auto, 0, 1 or 2; got {verbose!r}."
    )
    jit_compile = setting(trainer, "jit_compile", "trainer.jit_compile")
    require(
        jit_compile == "auto" or isinstance(jit_compile, bool),
        f"trainer.jit_compile must be auto, true or false; got {jit_compile!r}.",
    )
    precisions = ("off", "mixed_float16", "mixed_bfloat16")
    return TrainerSpec(
        batch_size=integer(trainer.get("batch_size"), "trainer.batch_size", 1),
        verbose=0 if verbose == "auto" and sweep_job else verbose,
        mixed_precision=choice(
            setting(trainer, "mixed_precision", "trainer.mixed_precision"),
            "trainer.mixed_precision",
            precisions,
        ),
        jit_compile=jit_compile,
        feature_cache=choice(
            setting(trainer, "feature_cache", "trainer.feature_cache"),
            "trainer.feature_cache",
            ("auto", "off"),
        ),
        feature_cache_gb=positive_number(
            setting(trainer, "feature_cache_gb", "trainer.feature_cache_gb"),
            "trainer.feature_cache_gb",
        ),
        feature_disk_gb=positive_number(
            setting(trainer, "feature_disk_gb", "trainer.feature_disk_gb"),
            "trainer.feature_disk_gb",
        ),
        save_model=_flag(
            setting(trainer, "save_model", "trainer.save_model"), "trainer.save_model"
        ),
        log_model=choice(
            setting(trainer, "log_model", "trainer.log_model"), "trainer.log_model", LOG_MODEL
        ),
    )


def _method(finetune: Any) -> MethodSpec:
    """`finetune.method` and its parameters (the rank is checked against kernels when planned)."""
    name = choice(setting(finetune, "method", "finetune.method"), "finetune.method", METHODS)
    rank = integer(setting(finetune, "lora_rank", "finetune.lora_rank"), "finetune.lora_rank", 1)
    alpha = finetune.get("lora_alpha")
    return MethodSpec(
        name=name,
        lora_rank=rank,
        lora_alpha=None if alpha is None else positive_number(alpha, "finetune.lora_alpha"),
    )


def _flag(value: Any, key: str) -> bool:
    require(isinstance(value, bool), f"{key} must be true or false; got {value!r}.")
    return bool(value)
