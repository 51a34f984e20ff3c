"""An optimizer that runs out of memory above a batch size, as a GPU would.

Named as a stage's `optimizer._target_` (with `allowed_targets: [tests.helpers.memory_hog]`) so a
real sweep of the real app meets TensorFlow's own `ResourceExhaustedError` inside `fit` (where Keras
builds the optimizer's slots), without allocating gigabytes on a shared machine. `LIVE` holds
every instance weakly: an optimizer refers to the model's variables, so a test proves the failed
trial's model was released by seeing its optimizers collected before the next trial
builds its own (`ALIVE_AT_BUILD`).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import keras

LIVE: weakref.WeakSet[keras.optimizers.Optimizer] = weakref.WeakSet()
# For each optimizer built within the limit: how many over-limit ones were still alive then.
ALIVE_AT_BUILD: list[int] = []


class HungryAdam(keras.optimizers.Adam):
    """Adam, except that building its slots for a batch above `limit` raises an OOM error."""

    def __init__(self, batch_size: int, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_size = int(batch_size)
        self.limit = int(limit)
        if self.batch_size <= self.limit:
            gc.collect()
            ALIVE_AT_BUILD.append(sum(other.batch_size > other.limit for other in LIVE))
        LIVE.add(self)

    def build(self, variables: Any) -> None:
        if self.batch_size > self.limit:
            import tensorflow as tf

            raise tf.errors.ResourceExhaustedError(
                None, None, f"OOM when allocating tensor with shape[{self.batch_size},7,7,32]"
            )
        super().build(variables)
