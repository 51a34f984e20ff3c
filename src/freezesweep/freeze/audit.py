"""The freeze audit: proof, per stage, that what was meant to stay frozen stayed frozen.

For every stage it records planned vs actual trainable and non-trainable parameter counts, and
SHA-256 digests of every frozen weight before and after the stage. Pure Keras and numpy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from freezesweep.errors import FreezeAuditError
from freezesweep.freeze.plan import StagePlan, count_params


@dataclass
class StageAudit:
    """The freeze audit of one stage: planned against actual counts, and what moved.

    Written to the trial's `freeze_audit.json`; a stage whose counts differ from the plan or
    whose frozen weights changed fails the trial (`FreezeAuditError`).

    Args:
        stage: the stage's name.
        units: the units it trained, bottom to top.
        planned_trainable: trainable parameters the plan promised.
        planned_non_trainable: non-trainable parameters the plan promised.
        actual_trainable: trainable parameters the compiled model had (as `model.summary()`).
        actual_non_trainable: non-trainable parameters the compiled model had.
        frozen_weights: frozen weights digested before and after. Defaults to `0`.
        changed_frozen: paths of frozen weights that changed (empty when it passed).
            Defaults to `[]`.
        trainable_weights: trainable weights. Defaults to `0`.
        changed_trainable: trainable weights that changed. Defaults to `0`.
        digests_before: frozen weight path -> digest before the stage. Defaults to `{}`.
        digests_after: frozen weight path -> digest after the stage. Defaults to `{}`.
        method: `finetune.method`. Defaults to `"unfreeze"`.
        skipped: the window's layers the method trains nothing in. Defaults to `[]`.
    """

    stage: str
    units: list[str]
    planned_trainable: int
    planned_non_trainable: int
    actual_trainable: int
    actual_non_trainable: int
    frozen_weights: int = 0
    changed_frozen: list[str] = field(default_factory=list)
    trainable_weights: int = 0
    changed_trainable: int = 0
    digests_before: dict[str, str] = field(default_factory=dict)
    digests_after: dict[str, str] = field(default_factory=dict)
    method: str = "unfreeze"
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """The counts match the plan and no frozen weight changed."""
        counts_match = (self.planned_trainable, self.planned_non_trainable) == (
            self.actual_trainable,
            self.actual_non_trainable,
        )
        return counts_match and not self.changed_frozen


def _digest(weight: keras.Variable) -> str:
    return hashlib.sha256(
        np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes()
    ).hexdigest()


def _owner(path: str) -> str:
    return path.rsplit("/", 1)[0]


class StageAuditor:
    """Snapshot the model before a stage trains, then check it afterwards.

    Args:
        model: the full model, already frozen and compiled for this stage.
        plan: the stage's plan.
        expected_to_move: paths of non-trainable weights allowed to change (BN moving
            statistics of BN layers that train under the `train` policy). Defaults to `()`.
    """

    def __init__(
        self, model: keras.Model, plan: StagePlan, expected_to_move: tuple[str, ...] = ()
    ) -> None:
        self.model = model
        self.plan = plan
        trainable_ids = {id(weight) for weight in model.trainable_weights}
        self._frozen = [
            weight
            for weight in model.weights
            if id(weight) not in trainable_ids and weight.path not in expected_to_move
        ]
        self._trainable = list(model.trainable_weights)
        self.audit = StageAudit(
            stage=plan.stage.name,
            units=list(plan.units),
            planned_trainable=plan.trainable_params,
            planned_non_trainable=plan.non_trainable_params,
            actual_trainable=count_params(model.trainable_weights),
            actual_non_trainable=count_params(model.non_trainable_weights),
            frozen_weights=len(self._frozen),
            trainable_weights=len(self._trainable),
            digests_before={weight.path: _digest(weight) for weight in self._frozen},
            method=plan.method,
            skipped=list(plan.skipped),
        )
        self._trainable_before = {weight.path: _digest(weight) for weight in self._trainable}

    def check_counts(self) -> None:
        """Raise before training if Keras's counts differ from the plan."""
        audit = self.audit
        for kind, planned, actual in (
            ("trainable", audit.planned_trainable, audit.actual_trainable),
            ("non-trainable", audit.planned_non_trainable, audit.actual_non_trainable),
        ):
            if planned != actual:
                raise FreezeAuditError(
                    f"Freeze audit failed before stage {audit.stage!r}: planned {planned} "
                    f"{kind} parameters, Keras reports {actual}."
                )

    def finish(self) -> StageAudit:
        """Digest the frozen weights again; raise naming the layer if any of them moved."""
        audit = self.audit
        audit.digests_after = {weight.path: _digest(weight) for weight in self._frozen}
        audit.changed_frozen = [
            path
            for path, digest in audit.digests_after.items()
            if audit.digests_before[path] != digest
        ]
        audit.changed_trainable = sum(
            self._trainable_before[weight.path] != _digest(weight) for weight in self._trainable
        )
        if audit.changed_frozen:
            path = audit.changed_frozen[0]
            raise FreezeAuditError(
                f"Freeze audit failed in stage {audit.stage!r}: frozen weight {path!r} of layer "
                f"{_owner(path)!r} changed during training "
                f"({len(audit.changed_frozen)} frozen weights changed in all)."
            )
        return audit


def write_audit(audits: list[StageAudit], path: Path) -> dict[str, Any]:
    """Write the audit of all stages as JSON and return what was written.

    Args:
        audits: one entry per stage run.
        path: the JSON file.
    """
    document = {
        "passed": all(audit.passed for audit in audits),
        "stages": [{**asdict(audit), "passed": audit.passed} for audit in audits],
    }
    path.write_text(json.dumps(document, indent=2))
    return document
