"""A job's command line: the trial's values, the fixed overrides, how to find its trial, and
the sweep folder it shares with the sweeper.

Jobs compose their own hydra node from the command line, so a folder the sweeper changes after
composing (a null study name given its `no-name-<uuid>`, a new study for a changed definition)
reaches them as overrides, or two sweeps of one working directory would share job folders.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict, read_write

from ..definition._grammar import SearchSpace, format_override
from ..definition._settings import Settings
from ._passwords import hide


def job_overrides(
    settings: Settings, params: Mapping[str, Any], number: int, space: SearchSpace
) -> list[str]:
    """The trial's values, the fixed overrides, and what the job needs to find its trial.

    `++` adds the `trial.*` keys when the job config has no `trial:` section; the job
    directory is named by trial number so no invocation or worker overwrites another's.

    Args:
        settings: the sweeper's settings.
        params: the trial's parameter values.
        number: the trial's number in the study.
        space: the parsed search space (its fixed overrides).
    """
    storage = hide(settings.storage)
    return [
        *space.fixed_overrides,
        *(format_override(key, value) for key, value in params.items()),
        f"++trial.number={number}",
        format_override("++trial.study_name", settings.study_name),
        # An `${oc.env:...}` reference when the URL has a password (see `jobs._passwords`).
        f"++trial.storage={storage}"
        if storage != settings.storage
        else format_override("++trial.storage", settings.storage),
        f"hydra.sweep.subdir=trial-{number:04d}",
    ]


def name_unnamed_study(conf: dict[str, Any], config: DictConfig) -> list[str]:
    """Names a null `study_name` now, as Optuna would (`no-name-<uuid>`), in `conf` and `config`.

    The default `hydra.sweep.dir` is `sweeps/${hydra.sweeper.study_name}`: left null, every
    unnamed sweep of a folder would write its jobs to `sweeps/None/trial-NNNN`, over each other's.

    Args:
        conf: the sweeper's keyword arguments, changed in place.
        config: the sweep's config (its hydra node is updated).

    Returns:
        The override that gives the jobs the same name.
    """
    name = f"no-name-{uuid.uuid4()}"
    conf["study_name"] = name
    _set_hydra(config, "sweeper", "study_name", name)
    return [format_override("hydra.sweeper.study_name", name)]


def move_sweep(config: DictConfig, space: SearchSpace, sweep_dir: Path) -> SearchSpace:
    """Makes `sweep_dir` this sweep's folder (`multirun.yaml`, the report) and its jobs' folder.

    Returns:
        `space` with the folder among the overrides every job gets.
    """
    _set_hydra(config, "sweep", "dir", str(sweep_dir))
    fixed = (*space.fixed_overrides, format_override("hydra.sweep.dir", str(sweep_dir)))
    return replace(space, fixed_overrides=fixed)


def _set_hydra(config: DictConfig, group: str, key: str, value: str) -> None:
    # The hydra node is read-only; Hydra's singleton holds its own copy (read by hooks, submitit).
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra[group][key] = value
    HydraConfig.instance().set_config(config)
