"""What trains in each stage, proved: freeze plans, applying them, and the freeze audit."""

from freezesweep.freeze.audit import StageAudit, StageAuditor, write_audit
from freezesweep.freeze.plan import (
    StagePlan,
    apply_plan,
    check_depths,
    count_params,
    plan_schedule,
    trainable_fingerprint,
)

__all__ = [
    "StageAudit",
    "StageAuditor",
    "StagePlan",
    "apply_plan",
    "check_depths",
    "count_params",
    "plan_schedule",
    "trainable_fingerprint",
    "write_audit",
]
