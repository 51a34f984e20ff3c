"""Training a planned schedule: per stage freeze, fresh optimizer, compile, guard, fit, audit."""

from freezesweep.train.callbacks import EpochLogger
from freezesweep.train.compile import compile_stage, guarded_fit
from freezesweep.train.optimizers import build_optimizer, stage_optimizer, unit_learning_rates
from freezesweep.train.schedule import ScheduleResult, StageResult, run_schedule
from freezesweep.train.store import ArrayStore, shared_store

__all__ = [
    "ArrayStore",
    "EpochLogger",
    "ScheduleResult",
    "StageResult",
    "build_optimizer",
    "compile_stage",
    "guarded_fit",
    "run_schedule",
    "shared_store",
    "stage_optimizer",
    "unit_learning_rates",
]
