"""Whether a store's local file or folder can be written, checked without creating anything.

The sweep's Optuna storage, the MLflow SQLite store and its artifact folder are checked before a
model is built or a study exists, so a read-only file or an impossible folder is one line naming
the setting instead of a traceback from SQLite after minutes of work.
"""

from __future__ import annotations

import os
from pathlib import Path

from freezesweep.errors import ConfigError

__all__ = ["check_writable"]


def check_writable(path: Path, key: str, *, folder: bool = False) -> None:
    """Raises when `path` cannot be written, or created with its missing folders.

    Args:
        path: the file (or folder) a store writes.
        key: the setting that names it, for the message.
        folder: `path` is a folder rather than a file. Defaults to `False`.

    Raises:
        ConfigError: the path is read-only, is the wrong kind, or cannot be created.

    Example:

        >>> check_writable(Path("/dev/null/optuna.db"), "hydra.sweeper.storage")
        Traceback (most recent call last):
        ...
        freezesweep.errors.ConfigError: hydra.sweeper.storage: cannot create /dev/null/optuna.db: /dev/null is not a folder.
    """  # noqa: E501
    path = Path(os.path.abspath(path))
    if path.exists():
        if folder != path.is_dir():
            kind = "a folder" if folder else "a file"
            raise ConfigError(f"{key}: {path} is not {kind}.")
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{key}: {path} is read-only.")
        # SQLite and the journal write lock and journal files next to the database.
        if not folder and not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{key}: the folder {path.parent} is read-only.")
        return
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key}: cannot create {path}: {ancestor} is not a folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: cannot create {path}: the folder {ancestor} is read-only.")
