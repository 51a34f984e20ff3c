"""What every benchmark pair shares: its result line, the composed config, a quiet timer."""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from omegaconf import DictConfig


@dataclass(frozen=True)
class PairResult:
    """One pair's ratios (`baseline / candidate` seconds, or bytes for memory) over repeats."""

    name: str
    description: str
    ratios: tuple[float, ...]
    note: str = ""
    digits: int = 2  # 3 where the target sits within a percent of 1 (P5: 1.03)
    unit: str = "repeats"  # what the ratios are taken over (P9: slices of one long sweep)

    def line(self) -> str:
        """`P1 ...: median 3.10x (2.90x-3.30x over 3 repeats)`, then the note."""
        median = statistics.median(self.ratios)
        low, high, d = min(self.ratios), max(self.ratios), self.digits
        spread = f"{low:.{d}f}x-{high:.{d}f}x over {len(self.ratios)} {self.unit}"
        note = f"; {self.note}" if self.note else ""
        return f"{self.name} {self.description}: median {median:.{d}f}x ({spread}){note}"


def compose(config_dir: Path, *overrides: str) -> DictConfig:
    """The project's config with overrides, untracked and quiet."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        return hydra_compose(
            "config", overrides=["tracking.enabled=false", "trainer.verbose=0", *overrides]
        )


class EpochClock(keras.callbacks.Callback):
    """Records each epoch's seconds (its training and its validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # trial summaries would drown the report
        value = function()
    return time.perf_counter() - started, value


def sweep(config_dir: Path, overrides: Sequence[str], points: Sequence[tuple[int, float]]) -> Any:
    from freezesweep.trial import run_trial

    return [
        run_trial(compose(config_dir, *overrides, f"finetune.top_k={k}", f"finetune.lr={lr}"))
        for k, lr in points
    ]
