"""Job configs composed once per shape of overrides, then re-valued (not recomposed) per trial.

Hydra composes every job of a sweep from scratch: it reads each config file again, builds the
defaults tree and merges it, about 0.2 s a trial on 2 cores, more than any other framework cost
between two trials. A sweep's jobs differ only in the values the sampler chose and the trial's
number, so `ReusingConfigLoader` keeps the job config Hydra composed for one list of overrides
and, for a later list of the same shape (same length; where a line differs, both are plain
`key=value` or `++key=value` assignments of one scalar to the same key, which is no config
group), deep-copies it and applies the differing assignments with Hydra's own override code,
then updates what Hydra derives from the override lines (`hydra.overrides`, the job's
`override_dirname`, the copied environment).

The first reuse of each shape is checked against Hydra composing the same job; a shape whose
reuse differs in any value or flag is never reused again. Anything else (a group choice, `+`,
`~`, a list or dict value, a sweep, an error) is composed by Hydra as before.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from omegaconf import DictConfig, OmegaConf, open_dict

from freezesweep import compat

log = logging.getLogger(__name__)

_MAX_SHAPES = 8  # a sweep has one or two shapes (preflight, trials); a few more cost nothing


@dataclass
class _Shape:
    """One composed job config and the override lines it was composed with."""

    config_name: str | None
    cwd: str
    overrides: list[Override]
    config: DictConfig  # a private copy: never handed out
    groups: frozenset[str]
    checked: bool = False
    broken: bool = False

    def changed(self, config_name: str | None, overrides: list[Override]) -> list[int] | None:
        """Positions where `overrides` re-value this shape's assignments; `None`: not this shape."""
        if self.broken or config_name != self.config_name or os.getcwd() != self.cwd:
            return None
        if len(overrides) != len(self.overrides):
            return None
        changed = []
        for index, (old, new) in enumerate(zip(self.overrides, overrides, strict=True)):
            if old.input_line == new.input_line:
                continue
            if not (_assignment(old) and _assignment(new)):
                return None
            if (old.type, old.key_or_group) != (new.type, new.key_or_group):
                return None
            if new.key_or_group in self.groups:
                return None
            changed.append(index)
        return changed


def _assignment(override: Override) -> bool:
    """`key=scalar` or `++key=scalar`: what re-valuing a composed config can reproduce."""
    if override.package is not None or override.value_type is not ValueType.ELEMENT:
        return False
    if override.type not in (OverrideType.CHANGE, OverrideType.FORCE_ADD):
        return False
    value = override.value()
    return value is None or isinstance(value, (str, int, float, bool))


class ReusingConfigLoader(ConfigLoader):
    """Hydra's config loader, with `load_sweep_config` reusing a composed job of the same shape.

    Args:
        inner: the loader Hydra built (`hydra_context.config_loader`).
    """

    def __init__(self, inner: ConfigLoader) -> None:
        self._inner = inner
        self._parser = OverridesParser.create()
        self._shapes: deque[_Shape] = deque(maxlen=_MAX_SHAPES)  # the oldest shape drops out
        self.reused = 0  # job configs re-valued instead of composed (after each shape's check)

    def __getstate__(self) -> dict[str, Any]:
        # Submitit pickles the launcher (and this) into every job; the composed configs stay here.
        return {"_inner": self._inner}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_inner"])  # type: ignore[misc]

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        hydra_lines = OmegaConf.to_container(master_config.hydra.overrides.hydra)
        assert isinstance(hydra_lines, list)
        config_name = master_config.hydra.job.config_name
        try:
            overrides = self._parser.parse_overrides([*hydra_lines, *sweep_overrides])
        except Exception:
            return self._inner.load_sweep_config(master_config, sweep_overrides)
        for shape in reversed(self._shapes):
            changed = shape.changed(config_name, overrides)
            if changed is None:
                continue
            try:
                reused = _revalue(shape.config, overrides, changed)
            except Exception:
                break  # Hydra composes it and raises its own error, if there is one
            OmegaConf.copy_cache(from_config=master_config, to_config=reused)
            if shape.checked:
                self.reused += 1
                return reused
            composed = self._inner.load_sweep_config(master_config, sweep_overrides)
            shape.checked = True
            if not _same(reused, composed):
                shape.broken = True
                log.debug(f"job configs of shape {sweep_overrides} are composed by Hydra each time")
            return composed
        composed = self._inner.load_sweep_config(master_config, sweep_overrides)
        self._remember(config_name, overrides, composed)
        return composed

    def _remember(
        self, config_name: str | None, overrides: list[Override], cfg: DictConfig
    ) -> None:
        choices = cfg.hydra.runtime.get("choices") or {}
        self._shapes.append(
            _Shape(
                config_name=config_name,
                cwd=os.getcwd(),
                overrides=overrides,
                config=copy.deepcopy(cfg),
                groups=frozenset(str(key) for key in choices),
            )
        )

    # The rest of Hydra's ConfigLoader interface, unchanged.
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self._inner.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:
        return self._inner.get_search_path()

    def get_sources(self) -> Any:
        return self._inner.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self._inner.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> list[str]:
        return self._inner.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.compute_defaults_list(*args, **kwargs)


def _revalue(composed: DictConfig, overrides: list[Override], changed: list[int]) -> DictConfig:
    """A copy of `composed` with the assignments at `changed` applied as Hydra applies them."""
    cfg = copy.deepcopy(composed)
    compat.hydra_apply_overrides([overrides[index] for index in changed], cfg)
    # Hydra appends every line, in order, to the end of `hydra.overrides.hydra` or `.task`.
    for kind, lines in ((True, cfg.hydra.overrides.hydra), (False, cfg.hydra.overrides.task)):
        mine = [index for index, o in enumerate(overrides) if o.is_hydra_override() == kind]
        first = len(lines) - len(mine)
        for offset, index in enumerate(mine):
            if index in changed:
                lines[first + offset] = overrides[index].input_line
    dirname = cfg.hydra.job.config.override_dirname
    cfg.hydra.job.override_dirname = compat.hydra_override_dirname(
        [o for o in overrides if not o.is_hydra_override()],
        exclude_keys=list(dirname.exclude_keys),
        item_sep=dirname.item_sep,
        kv_sep=dirname.kv_sep,
    )
    cfg.hydra.runtime.cwd = os.getcwd()
    with open_dict(cfg.hydra):
        for key in cfg.hydra.job.env_copy:
            cfg.hydra.job.env_set[key] = os.environ[key]
    return cfg


def _same(a: DictConfig, b: DictConfig) -> bool:
    """Equal values (unresolved) and the same struct and read-only flags at the root."""
    if OmegaConf.to_container(a, resolve=False) != OmegaConf.to_container(b, resolve=False):
        return False
    return (OmegaConf.is_struct(a), OmegaConf.is_readonly(a)) == (
        OmegaConf.is_struct(b),
        OmegaConf.is_readonly(b),
    )
