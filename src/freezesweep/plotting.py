"""Figures written to PNG files without a display: the one place that picks matplotlib's backend
and saves, for the study report, the replay's anytime curves and the benchmark plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def new_figure(size: tuple[float, float]) -> tuple[Any, Any]:
    """A figure and its axes, drawn off-screen (`Agg` unless the user chose a backend).

    Args:
        size: width and height in inches.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def save_figure(figure: Any, path: Path) -> Path:
    """Lay out, write as PNG (110 dpi, its folder made) and close a figure.

    Args:
        figure: a matplotlib figure from `new_figure`.
        path: the PNG file.

    Returns:
        `path`.
    """
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
