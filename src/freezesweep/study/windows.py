"""A `custom_search_space` for window sweeps: `finetune.offset` drawn so the window always fits.

A window of `top_k` units with `offset` frozen units above it fits a backbone of `n` units when
`top_k + offset <= n`; two independent ranges would waste trials on windows that fail before
training (and count them against the failure budget). `fitting_offset` suggests the offset in
`0..n - top_k` after the sampler drew `top_k`; TPE handles the changing upper bound.
"""

from __future__ import annotations

from typing import Any

import optuna

from freezesweep.spec.read import job_spec

__all__ = ["fitting_offset", "unit_count"]

# Unit counts by (backbone spec, unit kind): the backbone is built once per sweep process.
_COUNTS: dict[tuple[Any, str], int] = {}


def unit_count(cfg: Any) -> int:
    """The number of units (`schedule.unit`: blocks or layers) of the configured backbone.

    Args:
        cfg: the sweep's composed config (a `hydra` node is ignored).
    """
    spec = job_spec(cfg)
    key = (spec.backbone, spec.schedule.unit)
    if key not in _COUNTS:
        from freezesweep.model.assemble import build_backbone
        from freezesweep.model.units import find_units

        backbone = build_backbone(spec)[0]
        _COUNTS[key] = len(find_units(backbone, spec.schedule.unit))
    return _COUNTS[key]


def fitting_offset(cfg: Any, trial: optuna.Trial) -> None:
    """Suggest `finetune.offset` in `0..units - top_k` for the trial's sampled `finetune.top_k`.

    Named as `hydra.sweeper.custom_search_space: freezesweep.study.windows.fitting_offset`;
    `finetune.top_k` must be in `hydra.sweeper.params`.

    Args:
        cfg: the sweep's composed config.
        trial: the trial just asked, its `params` drawn.
    """
    top_k = int(trial.params["finetune.top_k"])
    trial.suggest_int("finetune.offset", 0, max(unit_count(cfg) - top_k, 0))
