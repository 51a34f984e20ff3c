"""Writing a trial's files when the disk may be full: no partial file left, one clear reason.

A full disk mid-write leaves a truncated JSON, `.keras` or `.npz` that a later reader would
take for a whole one; the trial fails instead, naming what it was writing and where. An output
is never written through a symbolic link: a link already under its name (`model.keras` pointing
outside the run folder) is refused in one line, and left as it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from freezesweep.errors import ConfigError, DiskFull

# No space on the device, or the user's quota is used up: both mean "this file does not fit".
_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (or the error it was raised from) says the disk or quota is full."""
    while error is not None:
        if isinstance(error, DiskFull) or (isinstance(error, OSError) and error.errno in _FULL):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def refuse_link(path: Path, what: str, folder_key: str = "hydra.run.dir") -> None:
    """Raises `ConfigError` when `path` is a symbolic link (dangling or not): never written through.

    Args:
        path: a file the project is about to write.
        what: what the file is, for the message (e.g. `the freeze audit`).
        folder_key: the setting that chose the folder, for the message.
            Defaults to `"hydra.run.dir"`.
    """
    if path.is_symlink():
        raise ConfigError(
            f"{path} ({what}) is a symbolic link; freezesweep never writes through a link: "
            f"remove it, or set {folder_key} to a folder of its own."
        )


@contextlib.contextmanager
def writing(path: Path, what: str) -> Iterator[Path]:
    """Yields `path`, refused first if it is a symbolic link (`refuse_link`); when the body fails,
    removes what it wrote there, and a full disk becomes `DiskFull`:
    `disk full writing <what> to <path> (No space left on device)`.

    Args:
        path: the file being written.
        what: what the file is, for the message (e.g. `the freeze audit`).
    """
    refuse_link(path, what)
    try:
        yield path
    except BaseException as error:
        if not path.is_symlink():
            with contextlib.suppress(OSError):
                path.unlink()
        if is_disk_full(error):
            raise disk_full(error, what, path) from None
        raise


def disk_full(error: BaseException, what: str, path: Path) -> DiskFull:
    """The trial's error for a full disk while writing `what` to `path`."""
    if isinstance(error, DiskFull):
        return error
    cause = error if isinstance(error, OSError) and error.errno in _FULL else None
    detail = cause.strerror if cause is not None else "No space left on device"
    # One argument: str() is the message alone, without OSError's "[Errno 28]" prefix.
    return DiskFull(f"disk full writing {what} to {path} ({detail})")


def append_line(folder: Path, name: str, line: str) -> None:
    """Append `line` and a newline to `folder/name`, creating the folder and the file; never
    through a link: the folder or the file being a symbolic link raises `OSError` (ELOOP), and
    nothing is written (a link planted there would make the project write outside its folder).

    Args:
        folder: the folder the project writes in (e.g. a sweep's `cache/`).
        name: the file's name in it (e.g. the cache's manifest).
        line: the text, without its newline.
    """
    if folder.is_symlink():
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    handle = os.open(folder / name, flags, 0o644)
    with os.fdopen(handle, "a", encoding="utf-8") as stream:
        stream.write(f"{line}\n")
