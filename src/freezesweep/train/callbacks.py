"""Keras callbacks a trial adds to every fit: per-epoch metrics to a run, with cumulative steps."""

from __future__ import annotations

from typing import Any, Protocol

import keras


class MetricSink(Protocol):
    """Anything that takes metrics at a step (a tracking run); keeps this module MLflow-free."""

    def log_metrics(
        self, metrics: dict[str, float], step: int = 0, *, defer: bool = False
    ) -> None: ...


class EpochLogger(keras.callbacks.Callback):
    """Logs Keras's per-epoch logs with step = cumulative epoch (Keras's own epoch index).

    Args:
        sink: where the metrics go, e.g. a `freezesweep.tracking.TrialRun`.
        prefix: put before each of Keras's names (`epoch_` makes `epoch_val_accuracy`), so the
            per-epoch series never share a name with a final value. Defaults to `""`.
    """

    def __init__(self, sink: MetricSink, prefix: str = "") -> None:
        super().__init__()
        self.sink = sink
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Deferred: a run may send the points of several short epochs in one call.
        self.sink.log_metrics(
            {f"{self.prefix}{key}": float(value) for key, value in (logs or {}).items()},
            step=epoch,
            defer=True,
        )
