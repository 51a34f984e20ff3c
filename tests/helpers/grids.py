"""Small synthetic grid tables: a known response surface with per-epoch curves and costs."""

from __future__ import annotations

import math

from freezesweep.replay.table import GridPoint, GridTable

DEPTHS = (0, 1, 2, 3, 4)
LRS = (1e-4, 3e-4, 1e-3)
HEAD_EPOCHS, FINETUNE_EPOCHS = 2, 3
PROVENANCE = {"study": "synthetic", "commit": "abc123", "machine": "test", "seed": "0"}


def accuracy(depth: int, lr: float) -> float:
    """The final value at a point: deeper is better, best LR 3e-4; the best is (4, 3e-4)."""
    return round(0.55 + 0.06 * depth - 0.08 * abs(math.log10(lr) - math.log10(3e-4)), 6)


def point(depth: int, lr: float, trial: int = -1) -> GridPoint:
    """A point whose head epochs are shared and whose fine-tuning climbs to `accuracy`."""
    head = [0.40 + 0.05 * epoch for epoch in range(HEAD_EPOCHS)]
    final = accuracy(depth, lr)
    start = head[-1]
    tune = [start + (final - start) * (epoch + 1) / FINETUNE_EPOCHS for epoch in range(3)]
    return GridPoint(
        params={"finetune.top_k": depth, "finetune.lr": lr},
        curve=tuple(head + tune),
        stage_epochs=(HEAD_EPOCHS, FINETUNE_EPOCHS),
        stage_seconds=(2.0, 1.5 * (1 + depth)),
        value=tune[-1],
        trainable_params=650 + 36_000 * depth,
        trial=trial,
    )


def synthetic_table() -> GridTable:
    """Every depth x LR of `DEPTHS` x `LRS` (15 points)."""
    points = [point(d, lr, n) for n, (d, lr) in enumerate((d, lr) for d in DEPTHS for lr in LRS)]
    return GridTable(points, dict(PROVENANCE))
