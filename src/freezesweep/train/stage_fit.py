"""One stage's fit: on cached features at the frozen boundary where that is exact, else in full."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import keras

from freezesweep.data.feed import TrainingData, evaluate_arguments, fit_arguments
from freezesweep.errors import RecompileGuardError
from freezesweep.freeze.plan import StagePlan
from freezesweep.train.compile import compile_stage, guarded_fit
from freezesweep.train.feature_cache import Split, same_trainable, split_at_cut
from freezesweep.train.feature_tier import Features, cached_features
from freezesweep.train.fused_fit import fused_fit
from freezesweep.train.store import ArrayStore

logger = logging.getLogger(__name__)
OFF = "off: trainer.feature_cache=off"
CACHED_STEPS = 32


@dataclass(frozen=True)
class FitOutcome:
    """What a stage's fit gives back.

    Attributes:
        history: Keras's `History`.
        status: `hit`, `miss` or `off: <reason>`.
        evaluate: `(val_loss, val_accuracy)` of the full model now, on cached features when the
            stage used them (the same numbers, without running the frozen part again).
    """

    history: Any
    status: str
    evaluate: Callable[[], tuple[float, float]]


def fit_stage(
    model: keras.Model,
    backbone: keras.Model,
    plan: StagePlan,
    data: TrainingData,
    *,
    bn: str,
    batch_size: int,
    jit_compile: str | bool,
    store: ArrayStore | None,
    **fit_kwargs: Any,
) -> FitOutcome:
    """Compile with a fresh optimizer and fit one stage whose plan is already applied.

    Args:
        model: the full model.
        backbone: the nested backbone.
        plan: the stage's plan (already applied).
        data: arrays or pipelines.
        bn: the BatchNormalization policy.
        batch_size: batch size of arrays.
        jit_compile: `model.compile`'s `jit_compile`.
        store: where features are cached; `None` turns the cache off.
        **fit_kwargs: epochs, callbacks, verbosity for `fit`.

    Returns:
        The history, the cache status and an evaluation of the validation split.
    """
    split, cached = _features(model, backbone, plan, bn, data, store)
    if isinstance(cached, str):
        # A reason from `cached_features` names its own bound.
        status = _off(cached, plan, store if cached is split else None)
        fingerprint = compile_stage(model, plan.stage, jit_compile, plan=plan)
        history = guarded_fit(model, fingerprint, **fit_arguments(data, batch_size), **fit_kwargs)
        return FitOutcome(history, status, lambda: _evaluate(model, data, batch_size))
    assert isinstance(split, Split)
    features, status = cached.data, "hit" if cached.hit else "miss"
    logger.info(
        "feature cache for stage %r: %s (cut at the %s; %s)", plan.stage.name, status, split.cut,
        cached.where,
    )  # fmt: skip
    # Above the cut a step is cheap, so the round trip per batch dominates: on TensorFlow an epoch
    # is one call (`fused_fit`, from memory or disk); elsewhere `fit` runs many steps per call.
    fingerprint = compile_stage(
        split.upper, plan.stage, jit_compile, plan=plan, steps_per_execution=CACHED_STEPS
    )
    # Every weight that trains must be above the cut, or the cache would freeze it silently.
    if not same_trainable(split.upper, model):
        raise RecompileGuardError(
            f"stage {plan.stage.name!r}: the model above the cut ({split.cut}) does not train "
            "exactly the full model's trainable weights."
        )
    if keras.backend.backend() == "tensorflow":
        history = guarded_fit(
            split.upper, fingerprint, fit=partial(fused_fit, data=features, batch_size=batch_size),
            **fit_kwargs,
        )  # fmt: skip
    else:
        arguments = fit_arguments(features, batch_size)
        history = guarded_fit(split.upper, fingerprint, **arguments, **fit_kwargs)
    return FitOutcome(history, status, lambda: _evaluate(split.upper, features, batch_size))


def _features(
    model: keras.Model,
    backbone: keras.Model,
    plan: StagePlan,
    bn: str,
    data: TrainingData,
    store: ArrayStore | None,
) -> tuple[Split | str, Features | str]:
    """The split (or why there is none) and the cut's features (or why the stage runs uncached:
    features larger than both free memory and what the cache folder can take)."""
    if store is None:
        return OFF, OFF
    split = split_at_cut(model, backbone, plan, bn, data)
    if isinstance(split, str):
        return split, split
    return split, cached_features(split, data, store)


def _off(reason: str, plan: StagePlan, store: ArrayStore | None) -> str:
    """The `off: <reason>` status, logged with the bound."""
    status = reason if reason.startswith("off: ") else f"off: {reason}"
    bound = f" (bound {store.max_bytes} bytes)" if store is not None else ""
    logger.info("feature cache for stage %r: %s%s", plan.stage.name, status, bound)
    return status


def _evaluate(model: keras.Model, data: TrainingData, batch_size: int) -> tuple[float, float]:
    loss, accuracy = model.evaluate(**evaluate_arguments(data, batch_size), verbose=0)
    return float(loss), float(accuracy)
