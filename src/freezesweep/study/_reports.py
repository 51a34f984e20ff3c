"""Intermediate values written to the study by one background thread while training goes on.

A report is one write transaction to the study's storage (~7 ms on a local SQLite file, a network
round trip to a database server). During the pruner's warm-up nothing reads them until the trial
asks the pruner or ends, so the pruning callback hands them here and waits (`flush`) only then.

Optuna only: no Hydra, no MLflow, no Keras.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import optuna


class LaterReports:
    """`trial.report` calls made in order on one thread; `flush` waits for all of them.

    Args:
        trial: the live trial the values belong to.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        self._trial = trial
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def report(self, value: float, step: int) -> None:
        """Queue `trial.report(value, step)`."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="freezesweep-report")
        self._pending.append(self._writer.submit(self._trial.report, value, step))

    def flush(self) -> None:
        """Wait until every queued value is in the study; raise what a write raised.

        The thread ends here too: a sweep's trials in one process would otherwise each leave one.
        """
        pending, self._pending = self._pending, []
        writer, self._writer = self._writer, None
        try:
            for done in pending:
                done.result()
        finally:
            if writer is not None:
                writer.shutdown(wait=True)
