"""SIGTERM and SIGINT end the current trial cleanly, then the worker exits with a telling code.

SLURM sends SIGTERM before preemption or the time limit (and SIGKILL after `KillWait`), so the
handler raises inside whatever runs, Keras's `fit` included: the trial's MLflow run ends KILLED,
the sweeper fails the trial and re-queues its parameters, and the process exits with
`EXIT_REQUEUE` (75, EX_TEMPFAIL: "run me again", which deploy/slurm_array.sh turns into
`scontrol requeue`). Ctrl-C (SIGINT) does the same cleanup and exits 130: a person stopped it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_REQUEUE = 75
EXIT_INTERRUPTED = 130
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """The worker received SIGTERM or SIGINT (a KeyboardInterrupt, so `except Exception` and
    Hydra's job wrapper let it through to the sweeper)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"received {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """`EXIT_REQUEUE` for SIGTERM (the scheduler's stop), 130 for SIGINT (a person's)."""
        return EXIT_REQUEUE if self.signum == signal.SIGTERM else EXIT_INTERRUPTED


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `Interrupted` in the main thread.

    The first signal raises; the previous handlers are back at once, so a second signal acts as
    it would have without the sweeper (a second Ctrl-C raises KeyboardInterrupt at once).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Signal handlers can only be installed from the main thread.
        return
    previous = {number: signal.getsignal(number) for number in _SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handler(signum: int, frame: FrameType | None) -> None:
        restore()
        raise Interrupted(signum)

    for number in _SIGNALS:
        signal.signal(number, handler)
    try:
        yield
    finally:
        restore()
