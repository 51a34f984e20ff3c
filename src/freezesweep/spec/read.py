"""The one reader of the Hydra config: typed, validated, frozen specs for everything below.

Every check that needs only the config happens here, before any model, storage or run exists.
Checks that need the backbone (is `finetune.top_k` within its units, does a pattern match a layer)
happen in `freezesweep.freeze.plan_schedule`, still before training or tracking starts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from freezesweep import targets
from freezesweep.objectives import OBJECTIVES, default_objectives
from freezesweep.spec._checks import (
    choice,
    decay,
    integer,
    non_negative_number,
    positive_number,
    require,
    str_keys,
)
from freezesweep.spec._schedule import read_schedule
from freezesweep.spec._sources import read_backbone, read_data
from freezesweep.spec._types import (
    METHODS,
    MethodSpec,
    TrackingSpec,
    TrainerSpec,
    TrialRef,
    TrialSpec,
)


def tracking_spec(cfg: Any, environment: Mapping[str, str] | None = None) -> TrackingSpec:
    """The tracking slice of a config (for the sweeper's hooks and `freezesweep report`).

    Args:
        cfg: a config with a `tracking` section. No default.
        environment: environment variables. Defaults to `None` (use `os.environ`).
    """
    return _tracking(cfg, os.environ if environment is None else environment)


def _tracking(cfg: Any, environment: Mapping[str, str]) -> TrackingSpec:
    tracking = cfg.tracking
    uri = tracking.get("uri") or environment.get("MLFLOW_TRACKING_URI") or tracking.default_uri
    return TrackingSpec(
        enabled=bool(tracking.get("enabled", True)),
        uri=str(uri),
        artifact_root=str(tracking.get("artifact_root") or ""),
        experiment=str(tracking.experiment),
        epoch_metrics_flush_s=non_negative_number(
            tracking.get("epoch_metrics_flush_s", 5.0), "tracking.epoch_metrics_flush_s"
        ),
    )


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def job_spec(job: DictConfig, environment: Mapping[str, str] | None = None) -> TrialSpec:
    """A sweep job's composed config (its `hydra` node included) read as its task will read it.

    Args:
        job: the job config, as the sweeper composes it. No default.
        environment: see `trial_spec`. Defaults to `None`.
    """
    task = copy.deepcopy(job)
    with open_dict(task):
        task.pop("hydra", None)
    return trial_spec(task, environment)


def trial_spec(cfg: DictConfig, environment: Mapping[str, str] | None = None) -> TrialSpec:
    """Validate a composed config and turn it into a `TrialSpec`.

    Args:
        cfg: the composed Hydra job config. No default.
        environment: environment variables to honour (`MLFLOW_TRACKING_URI`).
            Defaults to `None` (use `os.environ`).

    Returns:
        The validated, fully resolved trial specification.

    Raises:
        ValueError: with a message naming the offending key.
    """
    environment = os.environ if environment is None else environment
    # Before any `_target_` is checked: the user's own modules join the allow-list.
    targets.allow_modules(_plain(cfg.get("allowed_targets")))
    finetune = cfg.get("finetune") or {}
    top_k = integer(finetune.get("top_k"), "finetune.top_k", 0)
    offset = integer(finetune.get("offset", 0), "finetune.offset", 0)
    finetune_lr = positive_number(finetune.get("lr"), "finetune.lr")
    lr_decay = decay(finetune.get("lr_decay", 1.0), "finetune.lr_decay")
    method = _method(finetune)
    objectives = tuple(cfg.get("objectives") or default_objectives(1))
    for name in objectives:
        choice(name, "objectives", OBJECTIVES)
    trainer = cfg.trainer
    verbose = trainer.get("verbose", "auto")
    require(
        verbose in ("auto", 0, 1, 2), f"trainer.verbose must be auto, 0, 1 or 2; got {verbose!r}."
    )
    mixed_precision = choice(
        trainer.get("mixed_precision", "off"),
        "trainer.mixed_precision",
        ("off", "mixed_float16", "mixed_bfloat16"),
    )
    jit_compile = trainer.get("jit_compile", "auto")
    require(
        jit_compile == "auto" or isinstance(jit_compile, bool),
        f"trainer.jit_compile must be auto, true or false; got {jit_compile!r}.",
    )
    feature_cache = choice(
        trainer.get("feature_cache", "auto"), "trainer.feature_cache", ("auto", "off")
    )
    feature_cache_gb = positive_number(
        trainer.get("feature_cache_gb", 2.0), "trainer.feature_cache_gb"
    )
    trial = cfg.get("trial") or {}
    if verbose == "auto" and trial.get("number") is not None:
        verbose = 0  # a sweep job: the sweeper prints one line per trial instead of epoch logs
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    return TrialSpec(
        seed=integer(cfg.get("seed", 0), "seed", 0),
        top_k=top_k,
        offset=offset,
        finetune_lr=finetune_lr,
        objectives=objectives,
        backbone=read_backbone(cfg),
        data=read_data(cfg),
        schedule=read_schedule(cfg, finetune_lr, lr_decay, method),
        trainer=TrainerSpec(
            batch_size=integer(trainer.get("batch_size"), "trainer.batch_size", 1),
            verbose=verbose,
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
            feature_cache=feature_cache,
            feature_cache_gb=feature_cache_gb,
            save_model=_flag(trainer.get("save_model", False), "trainer.save_model"),
        ),
        tracking=_tracking(cfg, environment),
        trial=TrialRef(
            number=trial.get("number"),
            study_name=trial.get("study_name"),
            storage=trial.get("storage"),
        ),
        resolved=str_keys(resolved),
    )


def _method(finetune: Any) -> MethodSpec:
    """`finetune.method` and its parameters (the rank is checked against kernels when planned)."""
    name = choice(finetune.get("method", "unfreeze"), "finetune.method", METHODS)
    rank = integer(finetune.get("lora_rank", 4), "finetune.lora_rank", 1)
    alpha = finetune.get("lora_alpha")
    return MethodSpec(
        name=name,
        lora_rank=rank,
        lora_alpha=None if alpha is None else positive_number(alpha, "finetune.lora_alpha"),
    )


def _flag(value: Any, key: str) -> bool:
    require(isinstance(value, bool), f"{key} must be true or false; got {value!r}.")
    return bool(value)
