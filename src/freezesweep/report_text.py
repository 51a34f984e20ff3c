"""Plain-text tables for people: the per-stage summary of one trial."""

from __future__ import annotations

from collections.abc import Sequence

from freezesweep.training import StageResult


def stage_table(stages: Sequence[StageResult], total_params: int) -> str:
    """One row per stage: units unfrozen, trainable params (and fraction), epochs, accuracy, time.

    Args:
        stages: the stages that ran. No default.
        total_params: all parameters of the model, for the fraction. No default.
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
