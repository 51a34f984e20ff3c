"""The values a trial can return to the sweeper, named once for the trial, sweeper and reports."""

from __future__ import annotations

__all__ = ["ACCURACY", "METHOD", "OBJECTIVES", "TRAINABLE_PARAMS", "default_objectives"]

ACCURACY = "val_accuracy"
TRAINABLE_PARAMS = "trainable_params"
OBJECTIVES = (ACCURACY, TRAINABLE_PARAMS)
# Not an objective: the trial's `finetune.method`, recorded beside its size for the reports.
METHOD = "method"


def default_objectives(directions: int) -> list[str]:
    """What a study with this many directions optimizes when no objectives are configured.

    Args:
        directions: 1 or 2.
    """
    return list(OBJECTIVES[:directions])
