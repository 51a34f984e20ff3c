"""Tests for freezesweep.train.optimizers: layer-wise learning rates via Keras's MultiOptimizer."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from freezesweep.runtime import seed_everything
from freezesweep.spec import StageSpec
from freezesweep.train.optimizers import stage_optimizer, unit_learning_rates
from freezesweep.train.schedule import run_schedule
from tests.train.test_schedule import digits_plans, random_rows, snapshot

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

# Two top blocks at SGD 0.05: one step (one batch, one epoch), so each update is rate x gradient.
TOP_TWO = StageSpec(
    name="top_two",
    unfreeze=2,
    epochs=1,
    learning_rate=0.05,
    optimizer="keras.optimizers.SGD",
)


def one_step(decay: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Weights before and after one SGD step of TOP_TWO with `lr_decay=decay`."""
    seed_everything(0)
    model, backbone, (plan,) = digits_plans(replace(TOP_TWO, lr_decay=decay))
    before = snapshot(model)
    run_schedule(model, backbone, [plan], random_rows(rows=16), batch_size=16, verbose=0)
    return before, snapshot(model)


def test_lower_units_move_by_the_decayed_step() -> None:
    before, plain = one_step(1.0)
    _, decayed = one_step(0.5)
    for path in ("block3_conv1/kernel", "block3_conv2/kernel"):
        # The unit below the top takes half the step: rate x 0.5, same gradient.
        np.testing.assert_allclose(
            decayed[path] - before[path], 0.5 * (plain[path] - before[path]), rtol=1e-4, atol=1e-7
        )
        assert np.abs(plain[path] - before[path]).max() > 0
    for path in ("block4_conv1/kernel", "head_classifier/kernel"):
        # The top unit and the head keep the stage's rate.
        np.testing.assert_allclose(decayed[path], plain[path], rtol=1e-5, atol=1e-7)


def test_unit_rates_and_the_optimizer_each_unit_gets() -> None:
    _, _, (plan,) = digits_plans(replace(TOP_TWO, unfreeze=3, lr_decay=0.5))
    # Top unit first, each one below at half the rate of the one above.
    assert unit_learning_rates(plan) == {"block4": 0.05, "block3": 0.025, "block2": 0.0125}
    optimizer = stage_optimizer(plan)
    assert isinstance(optimizer, keras.optimizers.MultiOptimizer)
    rates = sorted(
        float(keras.ops.convert_to_numpy(inner.learning_rate)) for inner in optimizer.optimizers
    )
    # One instance per depth: the default (head and top unit) and one for each unit below.
    assert rates == pytest.approx([0.0125, 0.025, 0.05])


def test_no_decay_keeps_one_plain_optimizer() -> None:
    _, _, (plan,) = digits_plans(TOP_TWO)
    optimizer = stage_optimizer(plan)
    # lr_decay 1.0 (the default) builds the configured class itself, as before.
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert not isinstance(optimizer, keras.optimizers.MultiOptimizer)
