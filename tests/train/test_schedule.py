"""Tests for freezesweep.train.schedule: recompiling per stage, the guard, running a schedule."""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import numpy as np
import pytest

from freezesweep.data import Dataset
from freezesweep.freeze.audit import StageAudit
from freezesweep.freeze.plan import StagePlan, plan_schedule
from freezesweep.model.backbone import attach_head, default_backbone_path, load_backbone
from freezesweep.runtime import seed_everything
from freezesweep.spec import EarlyStoppingSpec, ScheduleSpec, StageSpec
from freezesweep.train import stage_fit
from freezesweep.train.schedule import (
    RecompileGuardError,
    StageResult,
    build_optimizer,
    compile_stage,
    guarded_fit,
    run_schedule,
)

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

NUM_CLASSES = 5
HEAD = StageSpec(name="head", unfreeze="none", epochs=1, learning_rate=1e-2)
TOP_BLOCK = StageSpec(name="top_block", unfreeze=1, epochs=1, learning_rate=1e-2)
# Trained by the two-stage schedule HEAD then TOP_BLOCK under bn=frozen; nothing else may move.
TRAINED = {
    "head_classifier/kernel",
    "head_classifier/bias",
    "block4_conv1/kernel",
    "block4_conv2/kernel",
}


def random_rows(rows: int = 16, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(2 * rows, 28, 28, 1)).astype("float32")
    y = np.arange(2 * rows) % NUM_CLASSES
    return Dataset(x[:rows], y[:rows], x[rows:], y[rows:], NUM_CLASSES)


def digits_plans(*stages: StageSpec) -> tuple[keras.Model, keras.Model, list[StagePlan]]:
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, NUM_CLASSES)
    plans = plan_schedule(model, backbone, ScheduleSpec("test", "block", "frozen", stages))
    return model, backbone, plans


def tiny_model() -> keras.Model:
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="output")(hidden)
    return keras.Model(inputs, outputs)


def tiny_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), np.arange(16) % 3


def snapshot(model: keras.Model) -> dict[str, np.ndarray]:
    return {weight.path: keras.ops.convert_to_numpy(weight).copy() for weight in model.weights}


def test_keras_keeps_training_a_layer_frozen_after_compile() -> None:
    keras.utils.set_random_seed(0)
    model = tiny_model()
    x, y = tiny_rows()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    hidden = model.get_layer("hidden")
    hidden.trainable = False
    before = keras.ops.convert_to_numpy(hidden.kernel).copy()

    backend = keras.backend.backend()
    if backend == "jax":
        # On JAX the stale train step fails instead: its optimizer was built for the old set.
        with pytest.raises(ValueError, match="the optimizer was built with"):
            model.fit(x, y, epochs=1, verbose=0)
        # The failed step leaves the model's variables unusable on JAX: start from a fresh one.
        model = tiny_model()
        hidden = model.get_layer("hidden")
        hidden.trainable = False
    elif backend == "torch":
        # On torch the train step reads the flags each time: the frozen layer stays put.
        model.fit(x, y, epochs=1, verbose=0)
        assert np.array_equal(keras.ops.convert_to_numpy(hidden.kernel), before)
    else:
        # The pitfall: without a recompile, the stale train step still updates the frozen layer.
        model.fit(x, y, epochs=1, verbose=0)
        assert not np.array_equal(keras.ops.convert_to_numpy(hidden.kernel), before)

    # Recompiling with a fresh optimizer honours the flag.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = keras.ops.convert_to_numpy(hidden.kernel).copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert np.array_equal(keras.ops.convert_to_numpy(hidden.kernel), before)


def test_run_schedule_moves_exactly_the_unfrozen_weights() -> None:
    model, backbone, plans = digits_plans(HEAD, TOP_BLOCK)
    initial = snapshot(model)
    after_stage: dict[str, dict[str, np.ndarray]] = {}

    def record(stage: StageResult, _audit: StageAudit) -> None:
        after_stage[stage.name] = snapshot(model)

    run_schedule(model, backbone, plans, random_rows(), verbose=0, on_stage_end=record)
    final = after_stage["top_block"]

    # Every weight outside the head and block4's convs (BN included) is bit-identical.
    frozen = set(initial) - TRAINED
    assert "block4_bn1/gamma" in frozen and "block3_conv2/kernel" in frozen
    for path in frozen:
        assert np.array_equal(final[path], initial[path]), path
    # The head stage leaves block4 alone; the top-block stage then trains it.
    for path in ("block4_conv1/kernel", "block4_conv2/kernel"):
        assert np.array_equal(after_stage["head"][path], initial[path]), path
        assert not np.array_equal(final[path], initial[path]), path
    assert not np.array_equal(final["head_classifier/kernel"], initial["head_classifier/kernel"])


def test_guarded_fit_refuses_a_trainable_change_after_compile() -> None:
    model = tiny_model()
    x, y = tiny_rows()
    fingerprint = compile_stage(model, HEAD)
    model.get_layer("hidden").trainable = False
    before = snapshot(model)

    # A trainable flip between compile and fit is refused before any step runs.
    with pytest.raises(
        RecompileGuardError,
        match=r"^The model's trainable state changed after it was compiled; ",
    ):
        guarded_fit(model, fingerprint, x=x, y=y, epochs=1, verbose=0)
    after = snapshot(model)
    assert all(np.array_equal(after[path], before[path]) for path in before)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's warning")
def test_the_expected_retracing_of_fresh_stage_models_stays_off_the_console(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import tensorflow as tf

    import freezesweep.train.compile  # noqa: F401  (the filter is installed on import)

    def fresh() -> Any:  # a new function of the same code, as each stage's new model traces
        @tf.function
        def step(x: Any) -> Any:
            return x + 1

        return step

    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(8):  # TensorFlow warns from the fifth trace of one code object
            fresh()(tf.constant(1.0))
        logging.getLogger("tensorflow").warning("another TensorFlow warning")
    assert [record.getMessage() for record in caplog.records] == ["another TensorFlow warning"]


def test_guarded_fit_runs_when_nothing_changed() -> None:
    model = tiny_model()
    x, y = tiny_rows()
    fingerprint = compile_stage(model, HEAD)
    # Unchanged trainable state: it is a plain model.fit.
    history = guarded_fit(model, fingerprint, x=x, y=y, epochs=2, verbose=0)
    assert history.epoch == [0, 1]
    assert set(history.history) == {"loss", "accuracy"}


def test_build_optimizer_returns_a_fresh_instance_at_the_stage_rate() -> None:
    first, second = build_optimizer(TOP_BLOCK), build_optimizer(TOP_BLOCK)
    # Never the same instance (Keras refuses an optimizer built for other variables).
    assert first is not second
    assert isinstance(first, keras.optimizers.Adam)
    # The stage's learning rate, and its extra keyword arguments, reach the optimizer.
    assert float(first.learning_rate) == pytest.approx(TOP_BLOCK.learning_rate)
    sgd = build_optimizer(
        StageSpec(
            name="sgd",
            unfreeze=1,
            epochs=1,
            learning_rate=0.05,
            optimizer="keras.optimizers.SGD",
            optimizer_kwargs={"momentum": 0.9},
        )
    )
    assert isinstance(sgd, keras.optimizers.SGD)
    assert (float(sgd.learning_rate), sgd.momentum) == (pytest.approx(0.05), 0.9)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "keras.optimizers.NoSuchOptimizer",
            "stage 's': optimizer._target_ 'keras.optimizers.NoSuchOptimizer' cannot be imported.",
        ),
        (
            "no_such_package.Adam",
            "stage 's': optimizer._target_ must name one of keras.optimizers.*; "
            "got 'no_such_package.Adam'.",
        ),
        (
            "Adam",
            "stage 's': optimizer._target_ must name one of keras.optimizers.*; got 'Adam'.",
        ),
        (
            "collections.OrderedDict",
            "stage 's': optimizer._target_ must name one of keras.optimizers.*; "
            "got 'collections.OrderedDict'.",
        ),
        (
            # A submodule (or a function: get, deserialize) is refused by name, before import.
            "keras.optimizers.schedules",
            "stage 's': optimizer._target_ must name a class of keras.optimizers, not one of its "
            "functions; got 'keras.optimizers.schedules'.",
        ),
    ],
)
def test_build_optimizer_names_an_unusable_target(target: str, message: str) -> None:
    stage = StageSpec(name="s", unfreeze=1, epochs=1, learning_rate=1e-3, optimizer=target)
    # An unknown, disallowed or non-optimizer _target_ is refused, naming the stage and target.
    with pytest.raises(ValueError) as error:
        build_optimizer(stage)
    assert str(error.value) == message


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epochs.append(epoch)


def test_run_schedule_counts_epochs_across_stages() -> None:
    first = StageSpec(name="head", unfreeze="none", epochs=2, learning_rate=1e-2)
    model, backbone, plans = digits_plans(first, TOP_BLOCK)
    recorder = EpochRecorder()
    result = run_schedule(model, backbone, plans, random_rows(), verbose=0, callbacks=[recorder])

    # Stage 2 starts at the epoch where stage 1 ended: one continuous epoch axis.
    assert recorder.epochs == [0, 1, 2]
    assert [stage.first_epoch for stage in result.stages] == [0, 2]
    assert [stage.epochs for stage in result.stages] == [2, 1]
    assert [len(stage.history["val_accuracy"]) for stage in result.stages] == [2, 1]
    # Each stage reports its plan's units and Keras's counts, and its audit passed.
    assert [stage.units for stage in result.stages] == [(), ("block4",)]
    assert [stage.trainable_params for stage in result.stages] == [
        plan.trainable_params for plan in plans
    ]
    assert all(audit.passed for audit in result.audits)
    assert not result.stopped


def test_run_schedule_stops_when_asked() -> None:
    model, backbone, plans = digits_plans(HEAD, TOP_BLOCK)
    ended: list[str] = []
    result = run_schedule(
        model,
        backbone,
        plans,
        random_rows(),
        verbose=0,
        on_stage_end=lambda stage, _: ended.append(stage.name),
        should_stop=lambda: True,
    )

    # should_stop after the first stage skips the rest, and the model is still evaluated.
    assert ended == ["head"]
    assert [stage.name for stage in result.stages] == ["head"]
    assert len(result.audits) == 1
    assert result.stopped
    assert math.isfinite(result.val_accuracy)
    # The skipped stage never unfroze its block.
    assert not backbone.get_layer("block4_conv1").trainable


@pytest.mark.slow  # moved from the default tier to keep it under 10 minutes on 2 cores
def test_same_seed_gives_the_same_val_accuracy() -> None:
    data = random_rows()

    def train_once() -> tuple[float, list[float]]:
        seed_everything(0)
        model, backbone, plans = digits_plans(HEAD, TOP_BLOCK)
        result = run_schedule(model, backbone, plans, data, batch_size=8, verbose=0)
        return result.val_accuracy, result.stages[-1].history["loss"]

    # One seed, one result: rebuilt model, same data, identical numbers.
    assert train_once() == train_once()


def test_the_final_numbers_are_the_last_validated_epoch_unless_best_weights_are_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keras validated the final weights at the end of the last epoch: no second pass over the
    # validation split, and the numbers are exactly those of the last epoch.
    evaluated: list[int] = []
    real_evaluate = stage_fit._evaluate

    def counting(*args: Any, **kwargs: Any) -> tuple[float, float]:
        evaluated.append(1)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(stage_fit, "_evaluate", counting)
    model, backbone, plans = digits_plans(HEAD, TOP_BLOCK)
    result = run_schedule(model, backbone, plans, random_rows(), verbose=0)
    assert evaluated == []
    assert result.val_accuracy == result.stages[-1].history["val_accuracy"][-1]
    assert result.val_loss == result.stages[-1].history["val_loss"][-1]
    # Checked against a fresh evaluation of the final model: the same accuracy.
    _, accuracy = model.evaluate(random_rows().x_val, random_rows().y_val, verbose=0)
    assert result.val_accuracy == pytest.approx(accuracy, abs=1e-6)
    # Early stopping that restores its best epoch changes the weights after it: evaluated.
    restoring = StageSpec(
        name="top_block",
        unfreeze=1,
        epochs=2,
        learning_rate=1e-2,
        early_stopping=EarlyStoppingSpec(patience=1, restore_best_weights=True),
    )
    model, backbone, plans = digits_plans(HEAD, restoring)
    run_schedule(model, backbone, plans, random_rows(), verbose=0)
    assert evaluated == [1]
