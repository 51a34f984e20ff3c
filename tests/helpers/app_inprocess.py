"""`python sweep.py ARGS` run inside the test process: the real app, Hydra, sweeper and hooks,
without a new interpreter and TensorFlow import per command (seconds each on 2 cores).

Tests that must see the real process (its exit status from the OS, Hydra's errors before the
app runs, a console free of C++ log lines) still start `sweep.py`; the tables of bad inputs and
the commands of the README and the documentation site run here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from hydra.core.global_hydra import GlobalHydra

from tests.helpers.shrink import ROOT

_SWEEP = ROOT / "sweep.py"
_app: ModuleType | None = None


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def _load_app() -> ModuleType:
    global _app
    if _app is None:
        spec = importlib.util.spec_from_file_location("freezesweep_app_under_test", _SWEEP)
        assert spec is not None and spec.loader is not None
        _app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_app)
        # Hydra finds `conf/` beside the file of a `__main__` task function, as for a script.
        _app.main.__wrapped__.__module__ = "__main__"
    return _app


def _keep_absl_handler_open() -> None:
    # Hydra configures logging per run (dictConfig), which closes every live handler; absl's
    # (TensorFlow's) handler then closes its stream unless it is the current sys.stderr/stdout
    # or their originals, and its stream is pytest's capture file. Point it at the original.
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


def run_app(cwd: Path, *arguments: str) -> Finished:
    """Runs the app's `main` as `python sweep.py *arguments` would, from `cwd`.

    Args:
        cwd: the working directory of the run. No default.
        arguments: the command line after `sweep.py`.

    Returns:
        The exit status (0 when `main` returned) and what was printed.
    """
    app = _load_app()
    _keep_absl_handler_open()
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    code = 0
    try:
        sys.argv = [str(_SWEEP), *arguments]
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                app.main()
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        GlobalHydra.instance().clear()
    return Finished(code, out.getvalue(), err.getvalue())
