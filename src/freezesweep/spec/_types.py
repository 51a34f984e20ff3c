"""The frozen, typed specs a trial runs from: what the config reader hands to everything below.

Plain dataclasses: no Hydra, no Keras. `freezesweep.spec.read` builds them from a `DictConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

UNIT_KINDS = ("layer", "block")
BN_POLICIES = ("frozen", "train")
# How a stage's window of units trains (`finetune.method`).
METHODS = ("unfreeze", "lora", "bitfit", "norm")
DEFAULT_OPTIMIZER = "keras.optimizers.Adam"

Unfreeze = int | Literal["all", "none"] | str


@dataclass(frozen=True)
class EarlyStoppingSpec:
    monitor: str = "val_loss"
    patience: int = 3
    restore_best_weights: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One stage: which top part of the backbone trains, for how long, how fast."""

    name: str
    # An int is a count of top units; "all", "none", or a shell pattern over layer names.
    unfreeze: Unfreeze
    epochs: int
    learning_rate: float
    optimizer: str = DEFAULT_OPTIMIZER
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    early_stopping: EarlyStoppingSpec | None = None
    # The config key a user should fix when `unfreeze` is out of range.
    unfreeze_key: str = ""
    # Top units kept frozen above the window of `unfreeze` units (0: the classic top-k).
    offset: int = 0
    # The config key of `offset` (the interpolation source, e.g. `finetune.offset`).
    offset_key: str = ""
    # Layer-wise decay: the top trainable unit (and the head) train at `learning_rate`, each
    # unit below at `lr_decay` times the one above it (1.0: one rate for all).
    lr_decay: float = 1.0


@dataclass(frozen=True)
class MethodSpec:
    """How the units of each stage's window train (`finetune.method` and its parameters)."""

    # unfreeze: every weight; lora: Keras LoRA adapters on supported layers (base kernels
    # frozen); bitfit: additive biases and normalization offsets; norm: normalization gamma/beta.
    name: Literal["unfreeze", "lora", "bitfit", "norm"] = "unfreeze"
    # The LoRA rank and scale (`alpha / rank` multiplies the adapter); read only for `lora`.
    lora_rank: int = 4
    lora_alpha: float | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    unit: Literal["layer", "block"]
    bn: Literal["frozen", "train"]
    stages: tuple[StageSpec, ...]
    method: MethodSpec = MethodSpec()


@dataclass(frozen=True)
class BackboneSpec:
    source: Literal["embedded", "file", "keras_app", "zoo"]
    path: Path | None
    sha256: str | None
    dropout: float
    # keras_app: the builder's name in keras.applications, "imagenet" / a weights file / None,
    # the input shape the data is resized to, and the global pooling of its feature map.
    # zoo: the zoo's name and the input shape.
    name: str | None = None
    weights: str | None = None
    input_shape: tuple[int, int, int] | None = None
    pooling: Literal["avg", "max"] | None = None
    # The layer whose output the head attaches to; None: the backbone's output.
    feature_layer: str | None = None
    # The head's class count; None: taken from the data (a number must equal the data's).
    classes: int | None = None


@dataclass(frozen=True)
class DataSpec:
    kind: Literal["digits", "digits_corrupted", "npz", "image_folder", "animal_mnist"]
    train_per_class: int
    split_seed: int
    path: Path | None
    # image_folder: the folder, the held-out fraction (without train/ and val/ folders),
    # in-memory caching, and augmentation layers (`_target_` + kwargs) for training batches.
    directory: Path | None = None
    validation_split: float = 0.2
    cache: bool = True
    augmentation: tuple[Mapping[str, Any], ...] = ()
    # digits_corrupted: one of CORRUPTIONS and its strength, 1 (mild) to 5 (strong).
    corruption: str | None = None
    severity: int = 3


# `data.corruption` of `data=digits_corrupted` (the functions are in freezesweep.data.corrupt).
CORRUPTIONS = ("gaussian_noise", "blur", "invert", "contrast")


@dataclass(frozen=True)
class TrainerSpec:
    batch_size: int
    verbose: Literal["auto", 0, 1, 2]
    # "off" (float32) or a Keras mixed-precision policy, set while the model is built.
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = "off"
    # `model.compile(jit_compile=...)`: "auto" lets Keras decide (XLA where it can on TF/JAX).
    jit_compile: Literal["auto"] | bool = "auto"
    # "auto": cache features at each stage's frozen boundary and reuse stage prefixes of earlier
    # trials where that is exact; "off": train every stage in full.
    feature_cache: Literal["auto", "off"] = "auto"
    # The bound of the cache, in memory and on disk each, in GB (10**9 bytes).
    feature_cache_gb: float = 2.0
    # Save the fine-tuned model (LoRA merged into its kernels) as the trial's `model.keras`.
    save_model: bool = False


@dataclass(frozen=True)
class TrackingSpec:
    enabled: bool
    uri: str
    artifact_root: str
    experiment: str
    # Per-epoch metrics wait up to this long to share one call with later ones (0: every epoch).
    epoch_metrics_flush_s: float = 5.0


@dataclass(frozen=True)
class TrialRef:
    """The Optuna trial a sweep job belongs to; all `None` for a plain run."""

    number: int | None = None
    study_name: str | None = None
    storage: str | None = None


@dataclass(frozen=True)
class TrialSpec:
    seed: int
    top_k: int
    # Top units left frozen above the window of `top_k` units (`finetune.offset`).
    offset: int
    finetune_lr: float
    objectives: tuple[str, ...]
    backbone: BackboneSpec
    data: DataSpec
    schedule: ScheduleSpec
    trainer: TrainerSpec
    tracking: TrackingSpec
    trial: TrialRef
    # The fully resolved config, exactly what gets logged.
    resolved: Mapping[str, Any]
