"""A simulated trial: the sweep's machinery without training.

It re-attaches to its Optuna trial, reports each epoch's value to the pruner, records the same
user attrs and opens the same MLflow run (`trial-NNNN` under the study's parent: params, per-epoch
and per-stage metrics, final metrics, the resolved config) as a trained trial, and sleeps
`trainer.simulate_seconds` spread over its epochs where training would run. The values come from
`freezesweep.simulate.answer`. Nothing is built: no model, no data, no Keras fit.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from freezesweep import trial_context
from freezesweep.objectives import ACCURACY
from freezesweep.redaction import redact_mapping
from freezesweep.simulate.answer import Answer, answer
from freezesweep.spec import TrialSpec
from freezesweep.trial_records import (
    EPOCH_PREFIX,
    FINAL_METRICS,
    STAGE_ACCURACY,
    STAGE_NON_TRAINABLE,
    STAGE_TRAINABLE,
    VALUE_TAG,
)

logger = logging.getLogger(__name__)
# On the run: what answered it (`surface` or the table's path), so no one mistakes it for training.
SIMULATED_TAG = "freezesweep.simulated"


def run_simulated(spec: TrialSpec, sweep_folder: Path | None) -> float | tuple[float, ...]:
    """Answer one trial under `spec.simulation` through the pruner and MLflow; return what a
    trained trial returns (`freezesweep.trial.run_trial`).

    Args:
        spec: the trial's spec (`spec.simulation` set).
        sweep_folder: the sweep's folder when the trial is a sweep's job, else `None`.

    Raises:
        ConfigError: the table cannot answer the trial.
        optuna.TrialPruned: the pruner stopped it, it is over the budget, or its recorded point
            was pruned.
    """
    assert spec.simulation is not None
    found = answer(spec)
    pruning = trial_context.pruning_callback(spec, found.trainable_params)
    with trial_context.tracked_run(spec, sweep_folder) as run:
        trial_context.link_run(spec, run, pruning)
        if run is not None:
            config = yaml.safe_dump(redact_mapping(dict(spec.resolved)), sort_keys=False)
            run.log_params(_flatten(spec))
            run.set_tags({SIMULATED_TAG: spec.simulation.source})
            run.log_text(config, "config.yaml")
        started = time.perf_counter()
        epochs = _epochs(spec, found, run, pruning)
        seconds = time.perf_counter() - started
        value = found.curve[epochs - 1] if epochs else float("nan")
        stage_epochs = _ran(found.stage_epochs, epochs)
        if pruning is not None:
            from freezesweep.study.pruning import record_costs

            shares = [seconds * n / max(epochs, 1) for n in stage_epochs]
            record_costs(pruning.trial, stage_epochs, shares)
        stopped_at = pruning.pruned_at_epoch if pruning is not None else None
        if run is not None:
            _log_end(run, found, value, seconds, stopped_at)
        logger.info(f"simulated trial: val_accuracy {value:.4f} after {epochs} epoch(s)")
        trial_context.raise_if_stopped(pruning, value)
        if found.recorded_state != "COMPLETE":
            import optuna

            raise optuna.TrialPruned(f"the recorded point stopped at epoch {epochs - 1}")
    return trial_context.objective_values(spec, value, found.trainable_params)


def _flatten(spec: TrialSpec) -> dict[str, str]:
    from freezesweep import tracking

    return tracking.flatten(spec.resolved)


def _epochs(spec: TrialSpec, found: Answer, run: Any, pruning: Any) -> int:
    """Each epoch: sleep its share, log its value, ask the pruner; the epochs that ran."""
    assert spec.simulation is not None
    pause = spec.simulation.seconds / max(sum(found.stage_epochs), 1)
    if pruning is not None:
        pruning.set_model(SimpleNamespace(stop_training=False))  # what a fit would stop
    stage_ends = _stage_ends(found.stage_epochs)
    for epoch, value in enumerate(found.curve):
        time.sleep(pause)
        if run is not None:
            run.log_metrics({f"{EPOCH_PREFIX}{ACCURACY}": value}, step=epoch, defer=True)
        if pruning is not None:
            pruning.on_epoch_end(epoch, {ACCURACY: value})
        if epoch + 1 in stage_ends and run is not None:
            metrics = {
                STAGE_ACCURACY: value,
                STAGE_TRAINABLE: found.trainable_params,
                STAGE_NON_TRAINABLE: found.total_params - found.trainable_params,
            }
            run.log_metrics(metrics, step=stage_ends.index(epoch + 1), defer=True)
        if pruning is not None and pruning.pruned:
            return epoch + 1
    return len(found.curve)


def _stage_ends(stage_epochs: tuple[int, ...]) -> list[int]:
    """The cumulative epoch count at each stage's end."""
    ends, total = [], 0
    for count in stage_epochs:
        total += count
        ends.append(total)
    return ends


def _ran(stage_epochs: tuple[int, ...], epochs: int) -> list[int]:
    """Each stage's epochs that ran, of `epochs` in all (stages never reached: left out)."""
    ran, left = [], epochs
    for count in stage_epochs:
        if left <= 0:
            break
        ran.append(min(count, left))
        left -= count
    return ran


def _log_end(run: Any, found: Answer, value: float, seconds: float, stopped: int | None) -> None:
    values = (
        value,
        found.trainable_params,
        found.total_params - found.trainable_params,
        found.trainable_params / found.total_params,
        seconds,
    )
    run.log_metrics(dict(zip(FINAL_METRICS, values, strict=True)), step=0)
    last = f"last reported (pruned at epoch {stopped})"
    run.set_tags({VALUE_TAG: "final" if stopped is None else last})
