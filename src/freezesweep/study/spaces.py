"""Conditional search spaces for `hydra.sweeper.custom_search_space` (`module.function`).

The sweeper calls one after `study.ask` with the `params` already sampled; what it suggests on the
trial becomes the job's overrides like any other parameter.
"""

from __future__ import annotations

from typing import Any

import optuna

# The LoRA ranks searched; all fit every kernel of the embedded backbone (16 filters at least).
LORA_RANKS = (1, 2, 4, 8)


def lora_rank_for_lora(cfg: Any, trial: optuna.Trial) -> None:
    """Suggest `finetune.lora_rank` only for trials whose `finetune.method` is `lora`.

    The other methods have no rank, so their trials carry no such parameter (the trial table
    leaves it empty) instead of a meaningless value.

    Args:
        cfg: the sweep's config (unused).
        trial: the asked trial, its `params` already sampled.
    """
    del cfg
    if trial.params.get("finetune.method") == "lora":
        trial.suggest_categorical("finetune.lora_rank", list(LORA_RANKS))


__all__ = ["LORA_RANKS", "lora_rank_for_lora"]
