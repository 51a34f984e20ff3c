"""The functions `hydra.sweeper.*` names by path (hooks, `custom_search_space`), behind a fence.

A hook is code the user chose, but its path is a config value that a command-line override can
change, and an unchecked import reaches whatever it is given: `hydra.sweeper.on_sweep_start=
os.system` would reach the shell. So a path is accepted only when its module is freezesweep's,
one of the user's `allowed_targets` (or inside one), or a module file beside the app script
(where Hydra's own examples keep theirs; not a package there, such as a checkout's `tests/`),
and that is checked before anything is imported; what the path names must then be a Python
function, not a builtin or a class.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freezesweep import targets

__all__ = ["resolve_hook"]

_OURS = "freezesweep"


def resolve_hook(key: str, path: Any) -> Callable[..., Any] | None:
    """The function `hydra.sweeper.<key>` names, or None when it is null.

    Args:
        key: the setting, e.g. `"on_sweep_start"`.
        path: its value, a `module.function` path or None.

    Raises:
        ValueError: not a path, a module outside the fence (nothing imported), an import that
            fails, or something other than a Python function.
    """
    if path is None:
        return None
    if not isinstance(path, str) or "." not in path:
        raise ValueError(f"hydra.sweeper.{key} must be a 'module.function' path; got {path!r}.")
    if not _fenced_in(path):
        raise ValueError(
            f"hydra.sweeper.{key} must name a function of freezesweep, of a module in "
            f"allowed_targets or of a module beside the app; got {path!r}."
        )
    module = path.rpartition(".")[0]
    try:
        # The one resolver of the project's string targets, fenced to this path's own module.
        function = targets.resolve(path, key=f"hydra.sweeper.{key}", allowed=(module,))
    except ValueError as error:
        cause = error.__cause__ or error
        raise ValueError(f"hydra.sweeper.{key}: cannot import {path!r}: {cause}") from error
    if not (inspect.isfunction(function) or inspect.ismethod(function)):
        raise ValueError(f"hydra.sweeper.{key}: {path!r} is not a Python function.")
    return function


def _fenced_in(path: str) -> bool:
    top = path.split(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return False  # never, whatever else says yes (allowed_targets refuses these too)
    modules = (_OURS, *targets.allowed_modules(()))
    if any(path == module or path.startswith(f"{module}.") for module in modules):
        return True
    return _beside_app(top)


def _beside_app(top: str) -> bool:
    """Whether the top-level module `top` is a module file in the app script's folder.

    A package there is not one: in a checkout, `tests/` sits beside `sweep.py`, and its helpers
    (which start processes) must not become hooks by a path; list a package of your own in
    `allowed_targets` instead.
    """
    if not sys.argv or not sys.argv[0]:
        return False
    app_dir = Path(sys.argv[0]).resolve().parent
    try:
        # A top-level name: finding it runs no code of the module (no parent package to import).
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:
        return False
    origin = Path(spec.origin).resolve()
    return origin.suffix == ".py" and origin.name != "__init__.py" and origin.parent == app_dir
