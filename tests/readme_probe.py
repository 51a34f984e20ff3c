"""A `hydra.sweeper.preflight` hook for tests: read every sample job as a trial, then stop.

`tests/test_readme_commands.py` runs the README's commands through the real sweeper with this
hook, so each override form is parsed, composed and read exactly as a sweep would, and the sweep
stops before its study exists (nothing trains, nothing is created).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, open_dict

from freezesweep.spec.read import trial_spec

MARK = "README probe"


def check(config: Any, jobs: Sequence[DictConfig] = ()) -> None:
    """Reads each composed job as its task function would; raises to stop with a count."""
    for job in jobs:
        task = copy.deepcopy(job)
        with open_dict(task):
            task.pop("hydra", None)
        trial_spec(task)
    raise ValueError(f"{MARK}: {len(jobs)} job(s) valid")
