"""Training a planned schedule: per stage freeze, fresh optimizer, compile, guard, fit, audit."""

from freezesweep.train.callbacks import EpochLogger
from freezesweep.train.compile import build_optimizer, compile_stage, guarded_fit
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
]
