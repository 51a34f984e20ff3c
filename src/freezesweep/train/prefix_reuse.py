"""Stage-prefix reuse: a trial whose first stages equal an earlier trial's restores their end state.

The key chains what a prefix's end state depends on: the model's starting variables (backbone
weights, head initialisation, seed-generator state), the data, seed, backend, precision and feature
cache mode, then each stage's resolved settings and units. With the per-stage reseeding of
`run_schedule`, restoring every variable of the full model gives the state retraining would give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import keras
import numpy as np

from freezesweep.freeze.plan import StagePlan
from freezesweep.train.store import ArrayStore

_RESULT = "__result__"


def base_key(model: keras.Model, *parts: object) -> str:
    """The key of a trial's starting state: every model variable plus `parts` (data, seed, ...)."""
    digest = hashlib.sha256()
    for variable in model.variables:
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    digest.update(repr(parts).encode())
    digest.update(f"{keras.backend.backend()}|{keras.config.dtype_policy().name}".encode())
    return digest.hexdigest()


def stage_key(previous: str, plan: StagePlan) -> str:
    """The key after one more stage: the previous key plus the stage's settings and units."""
    # The method and what it trains: bitfit and norm share a model and stage settings.
    trains = [weight.path for weight in plan.variables or ()]
    text = f"{previous}|{plan.stage!r}|{plan.units}|{plan.method}|{trains}"
    return hashlib.sha256(text.encode()).hexdigest()


class PrefixReuse:
    """Saves the full model's variables after each stage and restores them by key.

    Args:
        store: the shared array store.
    """

    def __init__(self, store: ArrayStore) -> None:
        self.store = store

    def save(self, key: str, model: keras.Model, result: Any) -> None:
        """Keep the model's variables and the stage's result (history included) under `key`."""
        entry = {
            f"v{index}": np.array(keras.ops.convert_to_numpy(variable))
            for index, variable in enumerate(model.variables)
        }
        entry[_RESULT] = np.frombuffer(json.dumps(asdict(result)).encode(), dtype=np.uint8)
        self.store.put(f"prefix-{key[:32]}", entry)

    def restore(self, key: str, model: keras.Model) -> dict[str, Any] | None:
        """Assign the stored variables to `model`; return the stored result, or `None` if absent.

        An entry that does not fit the model (count or shapes) is ignored, never half-applied.
        """
        entry = self.store.get(f"prefix-{key[:32]}")
        variables: Sequence[keras.Variable] = model.variables
        if entry is None or len(entry) != len(variables) + 1:
            return None
        arrays = [entry[f"v{index}"] for index in range(len(variables))]
        if any(tuple(a.shape) != tuple(v.shape) for a, v in zip(arrays, variables, strict=True)):
            return None
        for variable, array in zip(variables, arrays, strict=True):
            variable.assign(array)
        result: dict[str, Any] = json.loads(bytes(entry[_RESULT]).decode())
        return result


def replay(
    callbacks: Sequence[keras.callbacks.Callback],
    model: keras.Model,
    history: dict[str, list[float]],
    first_epoch: int,
) -> None:
    """Show the callbacks (tracking, pruning) a reused stage's epochs as if it had trained."""
    epochs = len(next(iter(history.values()), []))
    for callback in callbacks:
        callback.set_model(model)
    for offset in range(epochs):
        logs = {name: values[offset] for name, values in history.items()}
        for callback in callbacks:
            callback.on_epoch_end(first_epoch + offset, logs)
