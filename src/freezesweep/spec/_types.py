"""The frozen, typed specs a trial runs from: what the config reader hands to everything below.

Plain dataclasses: no Hydra, no Keras. `freezesweep.spec.read` builds them from a `DictConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from freezesweep.spec._simulation import SimulationSpec

UNIT_KINDS = ("layer", "block")
BN_POLICIES = ("frozen", "train")
# How a stage's window of units trains (`finetune.method`).
METHODS = ("unfreeze", "lora", "bitfit", "norm")
LOG_MODEL = ("pareto", "best", "all", "none")  # which trials log an MLflow model
DEFAULT_OPTIMIZER = "keras.optimizers.Adam"

Unfreeze = int | Literal["all", "none"] | str


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """A stage's early stopping (`schedule.stages.N.early_stopping`): Keras's `EarlyStopping`.

    Its defaults are written here only: the config leaves out what it does not change.

    Args:
        monitor: the metric watched. Defaults to `"val_loss"`.
        patience: epochs without improvement before the stage stops. Defaults to `3`.
        restore_best_weights: end the stage with its best epoch's weights. Defaults to `False`.
    """

    monitor: str = "val_loss"
    patience: int = 3
    restore_best_weights: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One stage of a schedule: which top part of the backbone trains, for how long, how fast.

    The stage-level keys a config may leave out (`offset`, `lr_decay`, `optimizer`,
    `early_stopping`) have their defaults here only.

    Args:
        name: the stage's name, unique in the schedule (`head`, `finetune`, `finetune_3`).
        unfreeze: a count of top units, `"all"`, `"none"`, or a shell pattern over layer names.
        epochs: epochs the stage trains.
        learning_rate: the stage's absolute rate (`lr`, or `lr_multiplier` x `finetune.lr`).
        optimizer: the optimizer class, a dotted path checked against the allow-list.
            Defaults to `"keras.optimizers.Adam"`.
        optimizer_kwargs: further arguments of the optimizer. Defaults to `{}`.
        early_stopping: the stage's early stopping. Defaults to `None` (none).
        unfreeze_key: the config key a user should fix when `unfreeze` is out of range (the
            interpolation source, e.g. `finetune.top_k`). Defaults to `""`.
        offset: top units kept frozen above the window of `unfreeze` units (0: the classic
            top-k). Defaults to `0`.
        offset_key: the config key of `offset` (e.g. `finetune.offset`). Defaults to `""`.
        lr_decay: layer-wise decay (`unit_learning_rates`). Defaults to `1.0` (one rate).
    """

    name: str
    unfreeze: Unfreeze
    epochs: int
    learning_rate: float
    optimizer: str = DEFAULT_OPTIMIZER
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=dict)
    early_stopping: EarlyStoppingSpec | None = None
    unfreeze_key: str = ""
    offset: int = 0
    offset_key: str = ""
    lr_decay: float = 1.0

    def unit_learning_rates(self, units: Sequence[str]) -> dict[str, float]:
        """The effective learning rate of each trainable unit, top unit first.

        The top unit trains at `learning_rate`, each unit below at `lr_decay` times the one
        above it (plain arithmetic: the tracking side reads it without loading Keras).

        Args:
            units: the stage's trainable units, bottom to top.
        """
        rate, decay = self.learning_rate, self.lr_decay
        return {name: rate * decay**depth for depth, name in enumerate(reversed(units))}


@dataclass(frozen=True)
class MethodSpec:
    """How the units of each stage's window train (`finetune.method` and its parameters).

    A config always sets these (`conf/config.yaml`); the defaults serve specs built in code.

    Args:
        name: `unfreeze` (every weight), `lora` (Keras LoRA adapters on supported layers, base
            kernels frozen), `bitfit` (additive biases and normalization offsets) or `norm`
            (normalization gamma/beta). Defaults to `"unfreeze"`.
        lora_rank: the adapters' rank; read only for `lora`. Defaults to `4`.
        lora_alpha: the adapters' scale is `lora_alpha / lora_rank`. Defaults to `None`
            (`lora_rank`: a scale of 1).
    """

    name: Literal["unfreeze", "lora", "bitfit", "norm"] = "unfreeze"
    lora_rank: int = 4
    lora_alpha: float | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule (`schedule.*`): the unit kind, the BatchNormalization policy, the stages.

    Args:
        name: the schedule's name (`two_stage`, `gradual`, ...; `custom` when unnamed).
        unit: what a depth counts: `"block"` (residual blocks) or `"layer"` (weight layers).
        bn: `"frozen"` (BN layers stay in inference mode) or `"train"`.
        stages: the stages in order, `gradual` ones expanded to one stage per depth.
        method: how each stage's window trains. Defaults to `MethodSpec()` (`unfreeze`).
    """

    name: str
    unit: Literal["layer", "block"]
    bn: Literal["frozen", "train"]
    stages: tuple[StageSpec, ...]
    method: MethodSpec = MethodSpec()


@dataclass(frozen=True)
class BackboneSpec:
    """Where the backbone comes from, and its head (`backbone.*`).

    Args:
        source: `"embedded"` (the project's pretrained digits backbone), `"file"` (a `.keras`
            file, loaded in safe mode), `"keras_app"` (a `keras.applications` architecture) or
            `"zoo"` (a real ImageNet backbone of the model zoo, converted from installed weights).
        path: the `.keras` file (`file`); `None` otherwise.
        sha256: the file's expected SHA-256, checked when loaded; `None`: not checked.
        dropout: the head's dropout rate before the classifier.
        name: `keras_app`: its name in `keras.applications`; `zoo`: the zoo's. Defaults to `None`.
        weights: `keras_app`: `"imagenet"`, a weights file, or `None` (random, the default).
        input_shape: `keras_app`, `zoo`: the input the data is resized to. Defaults to `None`.
        pooling: `keras_app`: the global pooling of its feature map. Defaults to `None`.
        feature_layer: the layer whose output the head attaches to. Defaults to `None` (the
            backbone's output).
        classes: the head's class count. Defaults to `None` (taken from the data; a number
            must equal the data's).
    """

    source: Literal["embedded", "file", "keras_app", "zoo"]
    path: Path | None
    sha256: str | None
    dropout: float
    name: str | None = None
    weights: str | None = None
    input_shape: tuple[int, int, int] | None = None
    pooling: Literal["avg", "max"] | None = None
    feature_layer: str | None = None
    classes: int | None = None


@dataclass(frozen=True)
class DataSpec:
    """The data a trial fine-tunes on (`data.*`).

    The settings of one kind are `None` for the others; their defaults are in that kind's
    `conf/data/<kind>.yaml`.

    Args:
        kind: `"digits"`, `"digits_corrupted"`, `"npz"`, `"image_folder"` or `"animal_mnist"`.
        train_per_class: training images per class (the digits and animal tasks).
        split_seed: seed of the train/validation split.
        path: the `.npz` file (`npz`); `None` otherwise.
        directory: `image_folder`: the folder. Defaults to `None`.
        validation_split: `image_folder`: the held-out fraction without `train/` and `val/`
            folders. Defaults to `None`.
        cache: `image_folder`: keep decoded images in memory. Defaults to `None`.
        augmentation: `image_folder`: training-batch layers (`_target_` + kwargs). Defaults to `()`.
        corruption: `digits_corrupted`: one of `CORRUPTIONS`. Defaults to `None`.
        severity: `digits_corrupted`: its strength, 1 (mild) to 5 (strong). Defaults to `None`.
        val_per_class: `digits`: validation images per class. Defaults to `None` (all others).
    """

    kind: Literal["digits", "digits_corrupted", "npz", "image_folder", "animal_mnist"]
    train_per_class: int
    split_seed: int
    path: Path | None
    directory: Path | None = None
    validation_split: float | None = None
    cache: bool | None = None
    augmentation: tuple[Mapping[str, Any], ...] = ()
    corruption: str | None = None
    severity: int | None = None
    val_per_class: int | None = None


# `data.corruption` of `data=digits_corrupted` (the functions are in freezesweep.data.corrupt).
CORRUPTIONS = ("gaussian_noise", "blur", "invert", "contrast")


@dataclass(frozen=True)
class TrainerSpec:
    """How stages train (`trainer.*`; every default is in `conf/trainer/default.yaml`).

    Args:
        batch_size: the batch size.
        verbose: Keras's progress output, `"auto"`, `0`, `1` or `2` (`auto`: `0` in a sweep).
        mixed_precision: `"off"` (float32) or a Keras mixed-precision policy (set at build).
        jit_compile: `model.compile(jit_compile=...)`: `"auto"` lets Keras decide.
        feature_cache: `"auto"` caches frozen-boundary features and reuses prefixes; or `"off"`.
        feature_cache_gb: the cache's bound, in memory and on disk each, in GB (10**9 bytes).
        feature_disk_gb: the bound of larger features, on disk memory-mapped, in GB.
        save_model: save the fine-tuned model (LoRA merged) as the trial's `model.keras`.
        log_model: which trials log their model as an MLflow model (one of `LOG_MODEL`).
    """

    batch_size: int
    verbose: Literal["auto", 0, 1, 2]
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"]
    jit_compile: Literal["auto"] | bool
    feature_cache: Literal["auto", "off"]
    feature_cache_gb: float
    feature_disk_gb: float
    save_model: bool
    log_model: Literal["pareto", "best", "all", "none"]


@dataclass(frozen=True)
class TrackingSpec:
    """Where and how a trial is recorded in MLflow (`tracking.*`).

    Args:
        enabled: record runs at all.
        uri: the tracking URI (`tracking.uri`, else `$MLFLOW_TRACKING_URI`, else the local
            SQLite store).
        artifact_root: where new experiments keep their artifacts (`""`: the server decides).
        experiment: the experiment of single runs (a sweep uses its study's name).
        epoch_metrics_flush_s: per-epoch metrics wait up to this long to share one call with
            later ones. Defaults to `5.0` (another app's tracking section may leave it out;
            `conf/tracking/mlflow.yaml` shows the same value, pinned equal by a test).
    """

    enabled: bool
    uri: str
    artifact_root: str
    experiment: str
    epoch_metrics_flush_s: float = 5.0


@dataclass(frozen=True)
class TrialRef:
    """The Optuna trial a sweep's job belongs to, set by the sweeper (`trial.*`).

    Args:
        number: the trial's number. Defaults to `None` (a run started by hand).
        study_name: the study's name. Defaults to `None`.
        storage: the study's storage URL. Defaults to `None`.
    """

    number: int | None = None
    study_name: str | None = None
    storage: str | None = None


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial runs from: the validated, frozen reading of a composed config.

    Built by `freezesweep.spec.read.trial_spec`; each module below takes only its slice.

    Args:
        seed: seed of weights init, shuffling and dropout (`seed`).
        top_k: units the fine-tuning stages train (`finetune.top_k`).
        offset: top units left frozen above that window (`finetune.offset`).
        finetune_lr: the searched fine-tuning learning rate (`finetune.lr`).
        objectives: what the trial returns, in order (`val_accuracy`, `trainable_params`).
        backbone: the backbone and head.
        data: the data.
        schedule: the stages, with `finetune.*` resolved into them.
        trainer: how stages train.
        tracking: where the trial is recorded.
        trial: the Optuna trial of a sweep's job.
        resolved: the fully resolved config, exactly what gets logged.
        simulation: answer the trial without training (`trainer.simulate`). Defaults to `None`.
    """

    seed: int
    top_k: int
    offset: int
    finetune_lr: float
    objectives: tuple[str, ...]
    backbone: BackboneSpec
    data: DataSpec
    schedule: ScheduleSpec
    trainer: TrainerSpec
    tracking: TrackingSpec
    trial: TrialRef
    resolved: Mapping[str, Any]
    simulation: SimulationSpec | None = None
