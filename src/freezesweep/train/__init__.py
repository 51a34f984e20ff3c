"""Training a planned schedule: per stage freeze, fresh optimizer, compile, guard, fit, audit."""

from freezesweep.train.callbacks import EpochLogger
from freezesweep.train.optimizers import build_optimizer, stage_optimizer, unit_learning_rates
from freezesweep.train.schedule import (
    ScheduleResult,
    StageResult,
    compile_stage,
    guarded_fit,
    run_schedule,
)

__all__ = [
    "EpochLogger",
    "ScheduleResult",
    "StageResult",
    "build_optimizer",
    "compile_stage",
    "guarded_fit",
    "run_schedule",
    "stage_optimizer",
    "unit_learning_rates",
]
