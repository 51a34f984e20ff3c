"""The config boundary: the frozen spec types a trial runs from.

Importing this package is light (no Hydra, no OmegaConf), so the Keras-side modules can take
their slice's type. `freezesweep.spec.read` is the one reader of a Hydra config.
"""

from freezesweep.spec._simulation import SimulationSpec
from freezesweep.spec._types import (
    BN_POLICIES,
    DEFAULT_OPTIMIZER,
    METHODS,
    UNIT_KINDS,
    BackboneSpec,
    DataSpec,
    EarlyStoppingSpec,
    MethodSpec,
    ScheduleSpec,
    StageSpec,
    TrackingSpec,
    TrainerSpec,
    TrialRef,
    TrialSpec,
    Unfreeze,
)

__all__ = [
    "BN_POLICIES",
    "DEFAULT_OPTIMIZER",
    "METHODS",
    "UNIT_KINDS",
    "BackboneSpec",
    "DataSpec",
    "EarlyStoppingSpec",
    "MethodSpec",
    "ScheduleSpec",
    "SimulationSpec",
    "StageSpec",
    "TrackingSpec",
    "TrainerSpec",
    "TrialRef",
    "TrialSpec",
    "Unfreeze",
]
