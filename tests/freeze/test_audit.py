"""Tests for freezesweep.freeze.audit: the per-stage proof that frozen weights stayed frozen."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset
from freezesweep.freeze.audit import FreezeAuditError, StageAudit, StageAuditor, write_audit
from freezesweep.freeze.plan import StagePlan, apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head, default_backbone_path, load_backbone
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.train.schedule import compile_stage, run_schedule

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

NUM_CLASSES = 5
TOP_BLOCK = StageSpec(name="top_block", unfreeze=1, epochs=1, learning_rate=1e-2)


def random_rows(rows: int = 16, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(2 * rows, 28, 28, 1)).astype("float32")
    y = np.arange(2 * rows) % NUM_CLASSES
    return Dataset(x[:rows], y[:rows], x[rows:], y[rows:], NUM_CLASSES)


def frozen_top_block() -> tuple[keras.Model, keras.Model, StagePlan]:
    """The digits model frozen and compiled for a top-block stage under bn=frozen."""
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, NUM_CLASSES)
    [plan] = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", (TOP_BLOCK,)))
    apply_plan(model, backbone, plan, "frozen")
    compile_stage(model, plan.stage)
    return model, backbone, plan


def is_moving_statistic(path: str) -> bool:
    return path.endswith(("/moving_mean", "/moving_variance"))


def test_real_fit_passes_the_audit() -> None:
    model, _, plan = frozen_top_block()
    auditor = StageAuditor(model, plan)
    auditor.check_counts()
    data = random_rows()
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=8, verbose=0)
    audit = auditor.finish()

    # Every frozen weight (BN statistics included) is digested, and none moved.
    assert set(audit.digests_before) == {weight.path for weight in model.non_trainable_weights}
    assert audit.digests_after == audit.digests_before
    assert audit.changed_frozen == []
    assert audit.passed
    # Training did happen: trainable weights moved.
    assert audit.changed_trainable > 0
    # Under bn=frozen the moving statistics stay put, even in the unfrozen block4.
    statistics = [path for path in audit.digests_before if is_moving_statistic(path)]
    assert "block4_bn2/moving_mean" in statistics
    assert len(statistics) == 16
    assert all(audit.digests_after[path] == audit.digests_before[path] for path in statistics)


def test_bn_train_policy_passes_with_moving_statistics_of_trained_units_excluded() -> None:
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, NUM_CLASSES, backbone_training=None)
    plans = plan_schedule(model, backbone, ScheduleSpec("test", "block", "train", (TOP_BLOCK,)))
    block4_mean = backbone.get_layer("block4_bn1").moving_mean
    before = keras.ops.convert_to_numpy(block4_mean).copy()
    result = run_schedule(model, backbone, plans, random_rows(), bn="train", verbose=0)
    [audit] = result.audits

    # The trained BN layers' statistics move and are left out of the frozen set...
    assert not np.array_equal(keras.ops.convert_to_numpy(block4_mean), before)
    assert "block4_bn1/moving_mean" not in audit.digests_before
    # ...while those of frozen blocks are digested and unchanged.
    assert (
        audit.digests_after["block1_bn1/moving_mean"]
        == audit.digests_before["block1_bn1/moving_mean"]
    )
    assert audit.passed


@pytest.mark.parametrize(
    ("layer_name", "weight_name"),
    [("block1_conv1", "kernel"), ("block4_bn1", "moving_mean")],
)
def test_tampered_frozen_weight_fails_naming_its_layer(layer_name: str, weight_name: str) -> None:
    model, backbone, plan = frozen_top_block()
    auditor = StageAuditor(model, plan)
    weight = getattr(backbone.get_layer(layer_name), weight_name)
    weight.assign(weight + 1.0)

    # A frozen conv kernel, or a BN moving mean under bn=frozen, that changes fails the stage.
    with pytest.raises(FreezeAuditError) as error:
        auditor.finish()
    assert str(error.value) == (
        f"Freeze audit failed in stage 'top_block': frozen weight '{layer_name}/{weight_name}' "
        f"of layer '{layer_name}' changed during training (1 frozen weights changed in all)."
    )
    assert auditor.audit.changed_frozen == [f"{layer_name}/{weight_name}"]
    assert not auditor.audit.passed


def test_trainable_count_differing_from_plan_fails_before_training() -> None:
    model, backbone, plan = frozen_top_block()
    # A layer flipped after planning: 3x3x1x16 = 144 more trainable parameters than planned.
    backbone.get_layer("block1_conv1").trainable = True
    auditor = StageAuditor(model, plan)

    with pytest.raises(FreezeAuditError) as error:
        auditor.check_counts()
    assert str(error.value) == (
        f"Freeze audit failed before stage 'top_block': planned {plan.trainable_params} "
        f"trainable parameters, Keras reports {plan.trainable_params + 144}."
    )
    assert not auditor.audit.passed


def test_non_trainable_count_differing_from_plan_fails_before_training() -> None:
    model, _, plan = frozen_top_block()
    wrong = dataclasses.replace(plan, non_trainable_params=plan.non_trainable_params + 1)
    auditor = StageAuditor(model, wrong)

    # The non-trainable count is checked too, naming planned vs actual.
    with pytest.raises(FreezeAuditError) as error:
        auditor.check_counts()
    assert str(error.value) == (
        f"Freeze audit failed before stage 'top_block': planned {wrong.non_trainable_params} "
        f"non-trainable parameters, Keras reports {plan.non_trainable_params}."
    )


def test_write_audit_records_counts_digests_and_verdicts(tmp_path: Path) -> None:
    model, backbone, plan = frozen_top_block()
    good = StageAuditor(model, plan).finish()
    tampered = StageAuditor(model, plan)
    kernel = backbone.get_layer("block2_conv2").kernel
    kernel.assign(kernel * 2.0)
    with pytest.raises(FreezeAuditError):
        tampered.finish()
    miscounted = dataclasses.replace(good, stage="miscounted", actual_trainable=0)

    path = tmp_path / "freeze_audit.json"
    written = write_audit([good], path)
    # A run whose stages all passed is recorded as passed, and the file is what was returned.
    assert json.loads(path.read_text()) == written
    assert written["passed"] is True
    [stage] = written["stages"]
    assert stage["passed"] is True
    assert (stage["planned_trainable"], stage["planned_non_trainable"]) == (
        plan.trainable_params,
        plan.non_trainable_params,
    )
    assert (stage["actual_trainable"], stage["actual_non_trainable"]) == (
        plan.trainable_params,
        plan.non_trainable_params,
    )
    assert stage["units"] == ["block4"]
    assert stage["digests_before"] == stage["digests_after"]
    assert len(stage["digests_before"]) == stage["frozen_weights"] > 0

    written = write_audit([good, tampered.audit, miscounted], path)
    # One moved frozen weight, or one count off the plan, fails its stage and the whole run.
    assert json.loads(path.read_text()) == written
    assert written["passed"] is False
    assert [stage["passed"] for stage in written["stages"]] == [True, False, False]
    assert written["stages"][1]["changed_frozen"] == ["block2_conv2/kernel"]


def test_stage_audit_passes_only_when_counts_match_and_nothing_moved() -> None:
    audit = StageAudit("s", ["block4"], 10, 20, 10, 20)
    # Matching counts and no changed frozen weight: passed; either defect fails it.
    assert audit.passed
    assert not dataclasses.replace(audit, actual_non_trainable=21).passed
    assert not dataclasses.replace(audit, changed_frozen=["block1_conv1/kernel"]).passed
