"""The resolved config as MLflow params: flattened to dotted keys, secrets masked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from freezesweep.redaction import MASK, is_secret_key, redact

# MLflow refuses longer param values.
_MAX_PARAM_LENGTH = 6000


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts and lists to dotted keys (`schedule.stages.1.epochs`), redacted.

    Args:
        config: the resolved configuration.
        prefix: key prefix. Defaults to `""`.
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
            flat.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}."))
        elif is_secret_key(str(key)) and value is not None:
            flat[name] = MASK
        else:
            flat[name] = redact(str(value))[:_MAX_PARAM_LENGTH]
    return flat


def stage_params(stages: Sequence[Any]) -> dict[str, str]:
    """Resolved per-stage settings, prefixed by stage so stages never collide in MLflow.

    Args:
        stages: the trial's `freezesweep.freeze.StagePlan`s, in order.
    """
    params: dict[str, str] = {}
    for index, plan in enumerate(stages):
        prefix = f"stage{index}.{plan.stage.name}"
        params[f"{prefix}.unfreeze"] = str(plan.stage.unfreeze)
        params[f"{prefix}.offset"] = str(plan.stage.offset)
        params[f"{prefix}.units"] = ",".join(plan.units)[:_MAX_PARAM_LENGTH] or "-"
        params[f"{prefix}.method"] = plan.method
        # Layers of the window the method trains nothing in (e.g. depthwise convs under lora).
        params[f"{prefix}.skipped_layers"] = ",".join(plan.skipped)[:_MAX_PARAM_LENGTH] or "-"
        params[f"{prefix}.epochs"] = str(plan.stage.epochs)
        params[f"{prefix}.learning_rate"] = repr(plan.stage.learning_rate)
        params[f"{prefix}.optimizer"] = plan.stage.optimizer
        params[f"{prefix}.lr_decay"] = repr(plan.stage.lr_decay)
        # The effective rate of every trainable unit, top first (layer-wise decay).
        unit_rates = plan.stage.unit_learning_rates(plan.units)
        rates = ",".join(f"{name}={rate:.3g}" for name, rate in unit_rates.items())
        params[f"{prefix}.unit_learning_rates"] = rates[:_MAX_PARAM_LENGTH] or "-"
    return params
