"""What a trial's MLflow run records, and under which names: one step axis per metric.

- per epoch (step = cumulative epoch, Keras's epoch index): Keras's logs prefixed `epoch_`
  (`epoch_loss`, `epoch_accuracy`, `epoch_val_loss`, `epoch_val_accuracy`), by `EpochLogger`;
- per stage (step = stage index): `stage_val_accuracy`, `stage_trainable_params`,
  `stage_non_trainable_params`, and the artifact `model_summary/stage<N>_<name>.txt` written
  after that stage's freezing, so its trainable column and totals are the stage's audited counts;
- once, at step 0: `val_accuracy`, `trainable_params`, `non_trainable_params`,
  `trainable_fraction`, `train_seconds`;
- before training, its lineage: the data as an MLflow dataset input (the feature cache's digest,
  the `data.*` settings, split sizes) and the backbone's digest (tag).

A pruned trial's `val_accuracy` is the last value it reported, and the run says so (tag
`freezesweep.value`). The run is any object with `log_metrics`, `log_text`, `set_tags`,
`log_file` and `log_dataset` (a `freezesweep.tracking.TrialRun`): this module does not import
MLflow.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import keras

from freezesweep import runtime
from freezesweep.data import Dataset, TrainingData
from freezesweep.freeze import StagePlan
from freezesweep.objectives import ACCURACY, TRAINABLE_PARAMS
from freezesweep.redaction import redact
from freezesweep.spec import TrialSpec
from freezesweep.train import ScheduleResult, StageResult
from freezesweep.train.feature_cache import data_digest, weights_digest
from freezesweep.trial_summary import model_summary

# Per-epoch series: Keras's names after this prefix (as Keras's TensorBoard callback names them).
EPOCH_PREFIX = "epoch_"
STAGE_ACCURACY = "stage_val_accuracy"
STAGE_TRAINABLE = "stage_trainable_params"
STAGE_NON_TRAINABLE = "stage_non_trainable_params"
FINAL_METRICS = (
    ACCURACY,
    TRAINABLE_PARAMS,
    "non_trainable_params",
    "trainable_fraction",
    "train_seconds",
)
SUMMARY_FOLDER = "model_summary"
# On the run: what its `val_accuracy` is (`final`, or the last value a pruned trial reported).
VALUE_TAG = "freezesweep.value"


def summary_file(index: int, name: str) -> str:
    """The artifact path of stage `index`'s model summary: `model_summary/stage1_finetune.txt`."""
    return f"{SUMMARY_FOLDER}/stage{index}_{name}.txt"


def log_start(
    run: Any,
    spec: TrialSpec,
    plans: list[StagePlan],
    config: str,
    data: TrainingData,
    backbone: keras.Model,
) -> None:
    """Before training: params (resolved config and per-stage settings), compute tags,
    `config.yaml` (the resolved config as YAML, secrets redacted: `config`), and the lineage:
    the data as an MLflow dataset input (`data_record`) and the backbone's digest (tag
    `freezesweep.backbone_digest`: SHA-256 of its pretrained weights' paths and values as built,
    LoRA factors left out)."""
    from freezesweep import tracking

    run.log_params({**tracking.flatten(spec.resolved), **tracking.stage_params(plans)})
    # Where and how this trial computed, next to what it found.
    compute = runtime.describe(spec.trainer.mixed_precision, spec.trainer.jit_compile)
    tags = {f"freezesweep.{key}": value for key, value in compute.items()}
    pretrained = [weight for weight in backbone.weights if "lora_kernel" not in weight.path]
    run.set_tags({**tags, tracking.BACKBONE_TAG: weights_digest(pretrained)})
    run.log_dataset(data_record(spec, data))
    run.log_text(config, "config.yaml")


def data_record(spec: TrialSpec, data: TrainingData) -> dict[str, Any]:
    """The trial's data for MLflow: `name` (the data kind), `digest` (the feature cache's data
    digest, `None` for a streamed pipeline), `source` (the `data.*` settings it was built from)
    and `profile` (split sizes, classes, image shape)."""
    source = {
        f"data.{item.name}": redact(str(value))
        for item in fields(spec.data)
        if (value := getattr(spec.data, item.name)) not in (None, ())
    }
    profile: dict[str, Any] = {"classes": data.num_classes}
    digest = None
    if isinstance(data, Dataset):
        digest = data_digest(data)
        profile.update(train_rows=len(data.x_train), val_rows=len(data.x_val))
        profile["image_shape"] = list(data.x_train.shape[1:])
    else:  # streamed from an image folder: sizes in batches
        profile.update(train_batches=int(data.train.cardinality()))
        profile.update(val_batches=int(data.val.cardinality()))
    return {"name": spec.data.kind, "digest": digest, "source": source, "profile": profile}


def stage_logger(run: Any, model: keras.Model) -> Callable[[StageResult, Any], None] | None:
    """Per-stage metrics at step = the stage's index, and the stage's model summary, written
    while the stage's freezing is still applied (epochs are logged by `EpochLogger`)."""
    if run is None:
        return None
    steps = itertools.count()

    def log(stage: StageResult, _audit: Any) -> None:
        index = next(steps)
        metrics = {
            STAGE_ACCURACY: stage.val_accuracy,
            STAGE_TRAINABLE: stage.trainable_params,
            STAGE_NON_TRAINABLE: stage.non_trainable_params,
        }
        run.log_metrics(metrics, step=index)
        run.log_text(model_summary(model), summary_file(index, stage.name))

    return log


def log_end(
    run: Any,
    result: ScheduleResult,
    files: tuple[Path, str],
    trainable_params: int,
    total_params: int,
    pruned_at_epoch: int | None,
) -> None:
    """The final metrics once (step 0), the audit file, `summary.txt` and `stages.json`.

    Args:
        run: the trial's run.
        result: what the schedule returned.
        files: the freeze audit's path and the printed summary's text.
        trainable_params: the most parameters any stage trained.
        total_params: all parameters of the model.
        pruned_at_epoch: the epoch the pruner stopped the trial at, else `None`.
    """
    audit_path, summary = files
    run.log_file(audit_path)
    values = (
        result.val_accuracy,
        trainable_params,
        total_params - trainable_params,
        trainable_params / total_params,
        result.seconds,
    )
    run.log_metrics(dict(zip(FINAL_METRICS, values, strict=True)), step=0)
    last = f"last reported (pruned at epoch {pruned_at_epoch})"
    what = "final" if pruned_at_epoch is None else last
    run.set_tags({VALUE_TAG: what})
    run.log_text(summary, "summary.txt")
    run.log_text(json.dumps([asdict(s) for s in result.stages], indent=2), "stages.json")
