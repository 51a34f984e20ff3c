"""The `zero_cost` slice of a config: depth scores computed before a sweep's first trial.

Read by the sweeper's hooks (`freezesweep.study.zero_cost`), not by a trial: the scores belong to
the study, not to one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freezesweep.spec._checks import choice, integer

# `none`: no scores. `log_me`: LogME (You et al., ICML 2021) of each searched depth's frozen
# features (`freezesweep.train.transferability`).
ZERO_COST_SCORES = ("none", "log_me")


@dataclass(frozen=True)
class ZeroCostSpec:
    """What the sweep scores before training.

    Args:
        score: one of `ZERO_COST_SCORES`.
        enqueue: the best-scoring depths enqueued first (0: scores are only logged).
        max_examples: the first training examples the scores read.
    """

    score: str = "none"
    enqueue: int = 0
    max_examples: int = 1000

    @property
    def enabled(self) -> bool:
        """Whether any score is computed."""
        return self.score != "none"


def zero_cost_spec(cfg: Any) -> ZeroCostSpec:
    """The `zero_cost` section of a config; an app without one scores nothing.

    Raises:
        ConfigError: a key out of range, naming it.
    """
    node = cfg.get("zero_cost") or {}
    return ZeroCostSpec(
        score=str(choice(node.get("score", "none"), "zero_cost.score", ZERO_COST_SCORES)),
        enqueue=integer(node.get("enqueue", 0), "zero_cost.enqueue", 0),
        max_examples=integer(node.get("max_examples", 1000), "zero_cost.max_examples", 2),
    )
