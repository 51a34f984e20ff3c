"""What a simulated trial's epochs report: from a recorded grid table's nearest point, or from a
fixed, seeded synthetic response surface. Pure: no Keras, Optuna or MLflow.

The surface is not a model of any task: it only has the shape the machinery needs (a best
depth and learning rate, curves that rise over epochs and differ between points, parameter
counts that grow with depth), and the same point always gets the same answer.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable, read_table
from freezesweep.spec import TrialSpec

# The surface's model: a head of this many parameters and backbone units of this many each.
HEAD_PARAMS = 1_290
UNIT_PARAMS = 24_000
SURFACE_UNITS = 12
# Each method's share of a unit's parameters that it trains (see `finetune.method`).
_METHOD_SHARE = {"unfreeze": 1.0, "lora": 0.05, "bitfit": 0.01, "norm": 0.005}


@dataclass(frozen=True)
class Answer:
    """A simulated trial's outcome, epoch by epoch.

    Args:
        curve: `val_accuracy` after each epoch, cumulative over stages.
        stage_epochs: the epochs of each stage.
        trainable_params: the trial's trainable parameters.
        total_params: the model's parameters.
        recorded_state: `PRUNED` when the recorded point stopped before its schedule's end.
    """

    curve: tuple[float, ...]
    stage_epochs: tuple[int, ...]
    trainable_params: int
    total_params: int
    recorded_state: str = "COMPLETE"


def answer(spec: TrialSpec) -> Answer:
    """The answer of `spec`'s trial under `spec.simulation` (a table's nearest point, else the
    surface).

    Raises:
        ConfigError: naming the table, when it cannot be read or lacks a searched value.
    """
    assert spec.simulation is not None
    if spec.simulation.table is None:
        return surface(spec)
    table = _table(spec.simulation.table)
    params = {key: _resolved(spec.resolved, key, spec.simulation.table) for key in table.keys}
    point = nearest(table, params)
    return Answer(
        curve=point.curve,
        stage_epochs=point.stage_epochs,
        trainable_params=point.trainable_params,
        # The table's largest trainable count (full fine-tuning) stands for the model's total.
        total_params=max(p.trainable_params for p in table.points),
        recorded_state=point.state,
    )


def check(spec: TrialSpec) -> None:
    """`spec`'s table reads and holds every key it searches (a sweep's preflight).

    Raises:
        ConfigError: naming the table and what is wrong.
    """
    if spec.simulation is not None and spec.simulation.table is not None:
        table = _table(spec.simulation.table)
        for key in table.keys:
            _resolved(spec.resolved, key, spec.simulation.table)


@functools.lru_cache(maxsize=8)
def _table(path: Path) -> GridTable:
    """One reading per process: a sweep's in-process trials share it."""
    return read_table(path)


def _resolved(config: Mapping[str, Any], key: str, table: Path) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"{table}: the table searches {key}, which the config lacks.")
        node = node[part]
    return node


def nearest(table: GridTable, params: Mapping[str, Any]) -> Any:
    """The recorded point nearest `params`: numbers by their distance over the recorded range
    (in log space where the values span more than a decade, as learning rates do), other values
    0 when equal, 1 when not; ties go to the first recorded point."""
    ranges = {key: _scale(table.values(key)) for key in table.keys}

    def distance(point: Any) -> float:
        return sum(_gap(point.params[key], params[key], ranges[key]) for key in table.keys)

    return min(table.points, key=distance)


def _scale(values: Sequence[Any]) -> tuple[bool, float] | None:
    """`(log, span)` of numeric values, else `None`."""
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if len(numbers) != len(values) or not numbers:
        return None
    low, high = min(numbers), max(numbers)
    log = low > 0 and high / low > 10
    span = (math.log(high) - math.log(low)) if log else high - low
    return log, span or 1.0


def _gap(recorded: Any, asked: Any, scale: tuple[bool, float] | None) -> float:
    if scale is None or not isinstance(asked, int | float) or isinstance(asked, bool):
        return 0.0 if str(recorded) == str(asked) else 1.0
    log, span = scale
    if log and asked > 0:
        return abs(math.log(float(recorded)) - math.log(float(asked))) / span
    return abs(float(recorded) - float(asked)) / span


def surface(spec: TrialSpec) -> Answer:
    """The synthetic surface at `spec`'s point: best near 3 units at a learning rate of 1e-3,
    each epoch's value rising towards the final one, a small seeded jitter per point."""
    method = spec.schedule.method.name
    top_k, lr = spec.top_k, spec.finetune_lr
    depth = math.exp(-(((top_k - 3) / 4) ** 2)) - 0.02 * spec.offset
    rate = math.exp(-(((math.log10(lr) + 3) / 1.2) ** 2))
    final = 0.55 + 0.25 * depth * rate + 0.15 * rate - 0.03 * (method != "unfreeze")
    final += _jitter(spec.seed, top_k, spec.offset, lr, method)
    stage_epochs = tuple(stage.epochs for stage in spec.schedule.stages)
    epochs = max(sum(stage_epochs), 1)
    curve = tuple(
        round(final - (final - 0.1) * math.exp(-4.0 * (epoch + 1) / epochs) * 0.5, 6)
        for epoch in range(epochs)
    )
    trainable = HEAD_PARAMS + round(top_k * UNIT_PARAMS * _METHOD_SHARE.get(method, 1.0))
    total = HEAD_PARAMS + UNIT_PARAMS * max(SURFACE_UNITS, top_k + spec.offset)
    return Answer(curve, stage_epochs, trainable, total)


def _jitter(*point: Any) -> float:
    """A fixed value in [-0.01, 0.01) for the point (the same on every machine and run)."""
    digest = hashlib.sha256(repr(point).encode()).digest()
    return (int.from_bytes(digest[:8], "big") / 2**64 - 0.5) * 0.02
