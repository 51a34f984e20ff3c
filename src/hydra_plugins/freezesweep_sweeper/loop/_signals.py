"""SIGTERM and SIGINT end the current trial cleanly, then the worker exits with a telling code.

SLURM sends SIGTERM before preemption or the time limit (and SIGKILL after `KillWait`), so the
handler raises inside whatever runs, Keras's `fit` included: the trial's MLflow run ends KILLED,
the sweeper fails the trial and re-queues its parameters, and the process exits with
`EXIT_REQUEUE` (75, EX_TEMPFAIL: "run me again", which deploy/slurm_array.sh turns into
`scontrol requeue`). Ctrl-C (SIGINT) does the same cleanup and exits 130: a person stopped it.

A second signal while that cleanup runs does not break it (a trial half failed, a run left
RUNNING): it is acknowledged in one line and asks the rest to hurry (`freezesweep.stopping`), so
the end-of-sweep report and model promotion are skipped and the study's parent run ends KILLED.
A third signal is Python's own (KeyboardInterrupt at once): what it leaves RUNNING, the next
run fails as stale and re-queues, as after `kill -9`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from freezesweep import stopping

log = logging.getLogger(__name__)

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

    The first signal raises; a second one only logs a line and calls `freezesweep.stopping.hurry`
    (the cleanup the first one started must finish: trials failed and re-queued, runs ended);
    then the previous handlers are back, so a third signal acts as it would have without the
    sweeper (a third Ctrl-C raises KeyboardInterrupt at once).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Signal handlers can only be installed from the main thread.
        return
    previous = {number: signal.getsignal(number) for number in _SIGNALS}
    received: list[int] = []

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Interrupted(signum)
        restore()
        stopping.hurry()
        name = signal.Signals(signum).name
        log.warning(
            f"received {name} again: skipping the report; exiting once the trial(s) are failed "
            f"and re-queued and the runs ended (a third {name} exits at once)"
        )

    stopping.clear()
    for number in _SIGNALS:
        signal.signal(number, handler)
    try:
        yield
    finally:
        restore()
