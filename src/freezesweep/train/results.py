"""What training a schedule returns: one `StageResult` per stage, and the `ScheduleResult`.

The trial hands the same `ScheduleResult` to MLflow and to the sweeper, so the two never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from freezesweep.freeze.audit import StageAudit
from freezesweep.train.stage_fit import OFF


@dataclass
class StageResult:
    """What one stage did: its units, parameter counts, epochs, accuracy and time.

    Args:
        name: the stage's name.
        units: the backbone units it trained, bottom to top.
        trainable_params: parameters it trained (audited, head included).
        non_trainable_params: parameters it kept frozen (audited).
        epochs: epochs it ran (fewer than planned after early stopping or pruning).
        first_epoch: the cumulative epoch it started at (Keras's `initial_epoch`).
        val_accuracy: the validation accuracy after its last epoch (`nan` without one).
        seconds: its wall time, freezing, compiling and the audit included.
        learning_rate: its learning rate (the top unit's, with layer-wise decay).
        history: Keras's per-epoch metrics (`loss`, `accuracy`, `val_loss`, `val_accuracy`).
            Defaults to `{}`.
        feature_cache: `"hit"` or `"miss"` (trained on cached features), `"off: <reason>"`,
            or `"reused"` (restored from an earlier trial's prefix). Defaults to `"off"`.
        cost_seconds: what training the stage cost where it was trained: `seconds`, or for a
            restored stage the seconds of the trial that trained it (what a recorded grid
            charges a trial, so its cost does not depend on the order trials ran in).
            Defaults to `nan` (unknown).
    """

    name: str
    units: tuple[str, ...]
    trainable_params: int
    non_trainable_params: int
    epochs: int
    first_epoch: int
    val_accuracy: float
    seconds: float
    learning_rate: float
    history: dict[str, list[float]] = field(default_factory=dict)
    feature_cache: str = OFF
    cost_seconds: float = float("nan")


@dataclass
class ScheduleResult:
    """What `run_schedule` returns: every stage's result and freeze audit, and the final values.

    Args:
        stages: the stages that ran, in order (a pruned trial stops early).
        audits: each stage's freeze audit (`freezesweep.freeze.StageAudit`), in order.
        val_accuracy: the final model's validation accuracy: the value the trial returns.
        val_loss: the final model's validation loss.
        stopped: the pruner stopped the schedule before its last stage.
        seconds: the wall time of the whole schedule.
    """

    stages: list[StageResult]
    audits: list[StageAudit]
    val_accuracy: float
    val_loss: float
    stopped: bool
    seconds: float
