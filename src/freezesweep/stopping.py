"""Whether this process was asked twice to stop: a second Ctrl-C (or SIGTERM) skips the slow
end of an interrupted sweep.

The sweeper's signal handler (`hydra_plugins.freezesweep_sweeper.loop._signals`) sets it; the
project's `on_sweep_end` hook (`freezesweep.study.hooks`) reads it and then only ends the study's
MLflow parent run (KILLED) instead of publishing the report and promoting models. A leaf: the
sweeper plugin and the hooks both import it, and it imports nothing of the project.
"""

from __future__ import annotations

import threading

__all__ = ["clear", "hurried", "hurry"]

_HURRY = threading.Event()


def hurry() -> None:
    """Ask what still runs of an interrupted sweep to skip what is not bookkeeping."""
    _HURRY.set()


def hurried() -> bool:
    """Whether `hurry` was called since the last `clear`."""
    return _HURRY.is_set()


def clear() -> None:
    """Forget an earlier `hurry` (a new sweep in the same process starts unhurried)."""
    _HURRY.clear()
