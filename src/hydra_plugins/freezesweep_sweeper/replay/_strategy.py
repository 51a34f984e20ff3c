"""A search strategy: the sweeper's settings composed from the project's config plus overrides.

A strategy is what `python sweep.py -m OVERRIDES` would run: the same config groups
(`hydra/sweeper/sampler`, `hydra/sweeper/pruner`), sweep files and keys, read by the sweeper's
one reader (`read_settings`). The baselines are named override lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from freezesweep.errors import ConfigError

from ..definition._settings import Settings, read_settings

# The baselines every replay compares against, as overrides of the project's default sweep.
# `{head_epochs_plus_3}` is the table's first stage's epochs + 3: a median pruner waits it out, as
# `median_after_head` does for the default schedule (its head stage is identical in every trial).
NO_PRUNER = "~hydra/sweeper/pruner"
NO_ENQUEUE = "hydra.sweeper.enqueue=[]"
BASELINES: dict[str, tuple[str, ...]] = {
    # Every grid point once, in a seeded random order.
    "grid": ("hydra/sweeper/sampler=grid", NO_PRUNER, NO_ENQUEUE),
    "random": ("hydra/sweeper/sampler=random", NO_PRUNER, NO_ENQUEUE),
    # Hydra's Optuna sweeper's defaults: TPE as Optuna configures it, no pruner, nothing enqueued.
    "tpe": ("hydra/sweeper/sampler=tpe", NO_PRUNER, NO_ENQUEUE),
    # freezesweep's default sweep (sweeps/top_k_lr.yaml): TPE with 6 start-up trials, the
    # baselines enqueued, a median pruner from the fine-tuning epochs on.
    "tpe_median": (
        "hydra/sweeper/pruner=median_after_head",
        "hydra.sweeper.pruner.n_warmup_steps={head_epochs_plus_3}",
    ),
    "gp": ("hydra/sweeper/sampler=gp", NO_PRUNER, NO_ENQUEUE),
}
# `{head_epochs}` or `{head_epochs_plus_N}` in an override: the table's first stage's epochs (+ N).
_PLACEHOLDER = re.compile(r"\{head_epochs(?:_plus_(\d+))?\}")
# The strategy `python sweep.py -m` runs today (the default sweep's sampler and pruner).
DEFAULT = "tpe_median"


@dataclass(frozen=True)
class Strategy:
    """A named strategy and the settings the sweeper would run it with.

    Args:
        name: its name in tables and JSON.
        overrides: the overrides it was composed with.
        settings: the sweeper's settings.
    """

    name: str
    overrides: tuple[str, ...]
    settings: Settings


def compose_strategy(
    name: str,
    overrides: Sequence[str],
    config_dir: Path,
    fill: Mapping[str, int] | None = None,
) -> Strategy:
    """The sweeper's settings for `python sweep.py -m OVERRIDES`, composed without running.

    Args:
        name: the strategy's name.
        overrides: Hydra overrides; `{name}` placeholders are filled from `fill`.
        config_dir: the project's Hydra config folder.
        fill: `{"head_epochs": N}` for the `{head_epochs}` and `{head_epochs_plus_K}`
            placeholders. Defaults to none.

    Raises:
        ConfigError: naming the strategy, when the overrides do not compose or the sweeper
            refuses its settings.
    """
    import hydra_plugins.freezesweep_sweeper.config  # noqa: F401  (registers the groups)

    lines = tuple(_filled(line, fill or {}) for line in overrides)
    try:
        with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
            config = compose("config", overrides=list(lines), return_hydra_config=True)
        sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
        assert isinstance(sweeper, dict)
        settings = read_settings(
            {str(k): v for k, v in sweeper.items()}, sweep_dir=str(config.hydra.sweep.dir)
        )
    except Exception as error:  # Hydra's composition errors have their own types.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"strategy '{name}' ({' '.join(lines)}): {first}") from error
    return Strategy(name, lines, settings)


def _filled(line: str, fill: Mapping[str, int]) -> str:
    """`line` with `{head_epochs}` and `{head_epochs_plus_N}` replaced from `fill` (other braces,
    as in YAML flow maps, kept)."""
    if "head_epochs" not in fill:
        return line
    head = fill["head_epochs"]
    return _PLACEHOLDER.sub(lambda match: str(head + int(match.group(1) or 0)), line)
