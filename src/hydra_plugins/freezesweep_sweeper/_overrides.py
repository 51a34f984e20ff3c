"""A job's command-line overrides: the trial's values, the fixed ones, and how to find its trial."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._grammar import SearchSpace, format_override
from ._secrets import hide
from ._settings import Settings


def job_overrides(
    settings: Settings, params: Mapping[str, Any], number: int, space: SearchSpace
) -> list[str]:
    """The trial's values, the fixed overrides, and what the job needs to find its trial.

    `++` adds the `trial.*` keys when the job config has no `trial:` section; the job
    directory is named by trial number so no invocation or worker overwrites another's.

    Args:
        settings: the sweeper's settings. No default.
        params: the trial's parameter values. No default.
        number: the trial's number in the study. No default.
        space: the parsed search space (its fixed overrides). No default.
    """
    storage = hide(settings.storage)
    return [
        *space.fixed_overrides,
        *(format_override(key, value) for key, value in params.items()),
        f"++trial.number={number}",
        format_override("++trial.study_name", settings.study_name),
        # An `${oc.env:...}` reference when the URL has a password (see `_secrets`).
        f"++trial.storage={storage}"
        if storage != settings.storage
        else format_override("++trial.storage", settings.storage),
        f"hydra.sweep.subdir=trial-{number:04d}",
    ]
