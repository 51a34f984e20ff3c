"""Real small file systems for tests: a tmpfs mounted read-only (root ignores permission bits,
not a read-only mount). Tests skip, saying why, where the machine does not allow mounting."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.processes import run


@contextmanager
def tmpfs(
    path: Path, *, size: str = "1m", files: dict[str, bytes] | None = None, read_only: bool = False
) -> Iterator[Path]:
    """A tmpfs of `size` at `path` holding `files`, remounted read-only when asked; unmounted
    at exit. Skips the test where `mount` is missing or refused (not root, no capability)."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    path.mkdir(parents=True, exist_ok=True)
    mounted = run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path])
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        for name, content in (files or {}).items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(content)
        if read_only:
            run(["mount", "-o", "remount,ro", path], check=True)
        yield path
    finally:
        run(["umount", "-l", path])
