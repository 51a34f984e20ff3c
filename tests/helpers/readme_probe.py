"""A `hydra.sweeper.preflight` hook for tests: read every sample job as a trial, then stop.

`tests/test_readme_commands.py` runs the commands of the README and the site's pages through
the real sweeper with this hook, so each override form is parsed, composed and read exactly as a
sweep would, and the sweep stops before its study exists (nothing trains, nothing is created).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from freezesweep.spec.read import job_spec

MARK = "README probe"


def check(config: Any, jobs: Sequence[Any] = ()) -> None:
    """Reads each composed job as its task function would; raises to stop with a count."""
    for job in jobs:
        job_spec(job)
    raise ValueError(f"{MARK}: {len(jobs)} job(s) valid")
