"""A quiet, safe console: TensorFlow's C++ log lines silenced before TensorFlow is first imported,
and every secret hidden from what the app prints (Hydra's own errors included).

TensorFlow 2.21 writes its oneDNN notice through absl before it reads `TF_CPP_MIN_LOG_LEVEL`
("WARNING: All log messages before absl::InitializeLog() ...", "I0000 ... port.cc:153] oneDNN
custom operations are on"), so the variable alone does not hide them: the import itself runs
with the process's stderr captured, and only those log lines are dropped from what it wrote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from typing import Any, TextIO

from freezesweep.redaction import redact

# absl/TSL C++ log lines: `I0000 00:00:1796187826.110329    9361 port.cc:153] ...` (info,
# warning, error; fatal ones are kept), and the notice absl prints before its first line.
_CPP_LOG_LINE = re.compile(
    r"^[IWE]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] |^WARNING: All log messages before absl"
)


def quiet_tensorflow(environ: MutableMapping[str, str] | None = None) -> bool:
    """Silence TensorFlow's C++ logging, unless the user set `TF_CPP_MIN_LOG_LEVEL` themselves.

    Call it before anything imports TensorFlow. With another Keras backend it only sets the
    environment (TensorFlow may still be imported by a library).

    Args:
        environ: the environment to read and update. Defaults to `None` (`os.environ`).

    Returns:
        Whether logging was silenced (False: the user's `TF_CPP_MIN_LOG_LEVEL` stands).
    """
    environ = os.environ if environ is None else environ
    if "TF_CPP_MIN_LOG_LEVEL" in environ:
        return False
    environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    backend = environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow" and "tensorflow" not in sys.modules:
        # A missing TensorFlow is not an error here: Keras reports a missing backend itself.
        with _stderr_without_cpp_logs(), contextlib.suppress(ImportError):
            import tensorflow  # noqa: F401
    return True


@contextlib.contextmanager
def _stderr_without_cpp_logs() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file; what it got, less C++ log lines, is replayed."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(True) if not _CPP_LOG_LINE.match(line)]
            sys.stderr.write("".join(kept))


class _SweepConsoleFilter(logging.Filter):
    """Lets through the console only what a sweep's reader needs: warnings and errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith("freezesweep.")


def quiet_job_console(logger: logging.Logger | None = None) -> None:
    """Inside a sweep job, keep freezesweep's INFO lines (the feature cache's status, ...) out of
    the console, where one line per trial and its progress line are all a sweep prints; the job's
    log file (`trial-NNNN/*.log`) still gets them.

    Args:
        logger: whose console handlers to filter. Defaults to `None` (the root logger).
    """
    for handler in (logger or logging.getLogger()).handlers:
        is_console = isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        )
        if is_console and not any(isinstance(f, _SweepConsoleFilter) for f in handler.filters):
            handler.addFilter(_SweepConsoleFilter())


class _RedactingStream:
    """A text stream that passes each write through `redact` (everything else is the stream's)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        # Per write, unbuffered: progress bars keep their `\r` updates; print() and tracebacks
        # write a message whole, so a secret is not split across two writes.
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redact_console() -> None:
    """Wrap `sys.stdout` and `sys.stderr` so no secret is printed, whoever prints it.

    Hydra reports a bad override or key before the task function runs, quoting the override
    (`tracking.uri=http://user:password@host'` with a stray quote): only a stream wrapper sees
    that. Call it once, in the app's `__main__`; a second call does not wrap twice.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _RedactingStream):
            setattr(sys, name, _RedactingStream(stream))


@contextlib.contextmanager
def redacted_console() -> Iterator[None]:
    """`redact_console` for the length of a block (a `freezesweep` command that prints what
    MLflow prints: its "View run ... at: <tracking URI>" lines), then the streams as they were."""
    saved = sys.stdout, sys.stderr
    redact_console()
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
