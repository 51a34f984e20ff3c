"""What a person reads about one trial: its stage table, its footer line, its model summary,
and its feature-cache tags."""

from __future__ import annotations

import io
from collections.abc import Sequence

import keras

from freezesweep.spec import TrialSpec
from freezesweep.train.schedule import ScheduleResult, StageResult


def _method(spec: TrialSpec) -> str:
    """`method=... ` for a method other than the default (`lora` with its rank), else nothing."""
    method = spec.schedule.method
    if method.name == "unfreeze":
        return ""
    rank = f"rank={method.lora_rank} " if method.name == "lora" else ""
    return f"method={method.name} {rank}"


def stage_table(stages: Sequence[StageResult], total_params: int) -> str:
    """One row per stage: units unfrozen, trainable params (and fraction), epochs, accuracy, time.

    Args:
        stages: the stages that ran.
        total_params: all parameters of the model, for the fraction.
    """
    rows = [("stage", "units unfrozen", "trainable", "fraction", "epochs", "lr", "val_acc", "sec")]
    for stage in stages:
        units = ",".join(stage.units) if len(stage.units) <= 4 else f"{len(stage.units)} units"
        rows.append(
            (
                stage.name,
                units or "-",
                f"{stage.trainable_params:,}",
                f"{stage.trainable_params / total_params:.1%}",
                str(stage.epochs),
                f"{stage.learning_rate:.1e}",
                f"{stage.val_accuracy:.4f}",
                f"{stage.seconds:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def trial_summary(
    spec: TrialSpec, result: ScheduleResult, trainable_params: int, total_params: int
) -> str:
    """The settings line, the stage table and the result line printed after every trial.

    Args:
        spec: the trial's spec.
        result: what the schedule returned.
        trainable_params: the most parameters any stage trained.
        total_params: all parameters of the model.
    """
    header = (
        f"schedule={spec.schedule.name} unit={spec.schedule.unit} bn={spec.schedule.bn} "
        f"top_k={spec.top_k}{f' offset={spec.offset}' if spec.offset else ''} "
        f"{_method(spec)}lr={spec.finetune_lr:g} seed={spec.seed}"
    )
    footer = (
        f"val_accuracy={result.val_accuracy:.4f} trainable_params={trainable_params:,} "
        f"({trainable_params / total_params:.1%} of {total_params:,}) "
        f"train_seconds={result.seconds:.1f}"
    )
    return "\n".join([header, stage_table(result.stages, total_params), footer])


def model_summary(model: keras.Model) -> str:
    """`model.summary()` with the trainable column, as text.

    Args:
        model: the built model.
    """
    buffer = io.StringIO()
    model.summary(
        show_trainable=True,
        expand_nested=True,
        print_fn=lambda line, line_break=True: buffer.write(line + ("\n" if line_break else "")),
    )
    return buffer.getvalue()


def cache_summary(result: ScheduleResult) -> dict[str, str]:
    """The run's tags: `freezesweep.feature_cache` (`hit`, `miss` or `off: <reason>`) and
    `freezesweep.reused_prefix` (the restored stages, or `none`).

    A miss in any trained stage makes the run a miss; a run with no cached stage reports the
    first stage's reason.
    """
    trained = [stage.feature_cache for stage in result.stages if stage.feature_cache != "reused"]
    reused = [stage.name for stage in result.stages if stage.feature_cache == "reused"]
    cached = [status for status in trained if status in ("hit", "miss")]
    if "miss" in cached:
        status = "miss"
    elif cached:
        status = "hit"
    elif trained:
        status = trained[0]
    else:
        status = "hit"  # every stage restored: nothing computed at all
    return {
        "freezesweep.feature_cache": status,
        "freezesweep.reused_prefix": ",".join(reused) or "none",
    }
