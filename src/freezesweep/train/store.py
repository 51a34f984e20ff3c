"""A bounded store of named numpy arrays by key: in memory for the process, on disk for the machine.

The feature cache and prefix reuse keep their entries here. Memory entries are shared by every
trial of one process (the basic launcher runs trials in-process); disk entries, under a study's
`cache/` folder, by every process on the machine. Disk entries are written to a temporary file and
renamed into place, so a reader never sees half an entry, and carry a SHA-256 of their contents: an
entry that is corrupt, truncated or fails its digest is deleted and reported missing, never trusted.
Both tiers evict least recently used entries beyond the bound.

The folder may hold files the project did not write (a user's `.npz`, a link): each entry written
is named in the folder's manifest (`MANIFEST_NAME`, one key a line, appended), and eviction and
the removal of a corrupt entry touch only the entries it names, never a symbolic link.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from freezesweep.disk import append_line, disk_full, is_disk_full

Entry = dict[str, np.ndarray]
_DIGEST = "__sha256__"
MANIFEST_NAME = ".freezesweep-entries"


def entry_digest(entry: Entry) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of every array, in name order."""
    digest = hashlib.sha256()
    for name in sorted(entry):
        array = np.ascontiguousarray(entry[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _size(entry: Entry) -> int:
    return sum(array.nbytes for array in entry.values())


class ArrayStore:
    """Entries of named arrays, bounded in bytes, in memory and optionally on disk.

    Args:
        directory: where disk entries live (`sweeps/<study>/cache/`). Defaults to `None`
            (memory only).
        max_bytes: the bound of each tier; least recently used entries go first.
            Defaults to `2 * 10**9`.
        disk_bytes: the bound of the features larger than `max_bytes` that go to the
            directory memory-mapped (`freezesweep.train.feature_files`). Defaults to `20 * 10**9`.
    """

    def __init__(
        self,
        directory: Path | None = None,
        max_bytes: int = 2 * 10**9,
        disk_bytes: int = 20 * 10**9,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.disk_bytes = disk_bytes
        self._memory: OrderedDict[str, Entry] = OrderedDict()

    def get(self, key: str) -> Entry | None:
        """The entry under `key` from memory, else from disk (then kept in memory), else `None`."""
        if key in self._memory:
            self._memory.move_to_end(key)
            self._touch(key)
            return self._memory[key]
        entry = self._read(key)
        if entry is not None:
            self._remember(key, entry)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Keep `entry` under `key` in memory and, with a directory, on disk (atomically)."""
        entry = {name: np.asarray(array) for name, array in entry.items()}
        self._remember(key, entry)
        if self.directory is not None and _size(entry) <= self.max_bytes:
            self._write(key, entry)
            self._evict_disk()

    def _remember(self, key: str, entry: Entry) -> None:
        if _size(entry) > self.max_bytes:
            return  # larger than the whole bound: not kept (features go to `feature_files`)
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while sum(_size(e) for e in self._memory.values()) > self.max_bytes:
            self._memory.popitem(last=False)

    def path(self, key: str) -> Path:
        """The disk file of an entry (whether or not it exists)."""
        assert self.directory is not None
        return self.directory / f"{key}.npz"

    def _write(self, key: str, entry: Entry) -> None:
        assert self.directory is not None
        if self.directory.is_symlink():
            return  # a link for the folder: never written through (memory only)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as stream:
                digest = np.frombuffer(entry_digest(entry).encode(), dtype=np.uint8)
                arrays: dict[str, Any] = {**entry, _DIGEST: digest}
                np.savez(stream, **arrays)
            # Named before it exists, so no entry of ours is ever missing from the manifest. One
            # short line in append mode: writers of several processes never interleave.
            append_line(self.directory, MANIFEST_NAME, key)  # never through a link
            # A rename within one folder is atomic: readers see the old state or the whole entry.
            os.replace(temporary, self.path(key))
            self._touch(key)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            # Other write errors leave the entry in memory only; a full disk fails the trial,
            # which says so, rather than running on silently without the cache on disk.
            if is_disk_full(error):
                raise disk_full(error, "the feature cache", self.path(key)) from None

    def _read(self, key: str) -> Entry | None:
        if self.directory is None or not self.path(key).is_file():
            return None
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as archive:
                entry = {name: archive[name] for name in archive.files}
            stored = bytes(entry.pop(_DIGEST)).decode()
            valid = stored == entry_digest(entry)
        except Exception:  # numpy raises many types for a damaged archive
            valid = False
        if not valid:
            # Ignored and rebuilt by the caller; never trusted, and deleted only if ours.
            if path in self._owned():
                with contextlib.suppress(OSError):
                    path.unlink()
            return None
        self._touch(key)
        return entry

    def _touch(self, key: str) -> None:
        # Least recently *used* is what disk eviction drops: a use renews the file's time.
        if self.directory is not None:
            # Nanoseconds from the clock: file times come from a coarse (jiffy) clock.
            now = time.time_ns()
            with contextlib.suppress(OSError):
                os.utime(self.path(key), ns=(now, now), follow_symlinks=False)

    def _owned(self) -> list[Path]:
        """The entry files the manifest names that are plain files (not links) today."""
        assert self.directory is not None
        try:
            keys = (self.directory / MANIFEST_NAME).read_text(encoding="utf-8").split()
        except OSError:
            return []
        paths = [self.path(key) for key in dict.fromkeys(keys) if "/" not in key]
        return [path for path in paths if path.is_file() and not path.is_symlink()]

    def _evict_disk(self) -> None:
        files = sorted(self._owned(), key=lambda file: file.stat().st_mtime)
        total = sum(file.stat().st_size for file in files)
        for file in files:
            if total <= self.max_bytes:
                break
            total -= file.stat().st_size
            with contextlib.suppress(OSError):
                file.unlink()


_STORES: dict[tuple[str | None, int, int], ArrayStore] = {}


def shared_store(
    directory: Path | None, max_bytes: int, disk_bytes: int = 20 * 10**9
) -> ArrayStore:
    """The process-wide store of a directory, so in-process trials share one memory tier.

    Args:
        directory: the disk folder, or `None` for memory only.
        max_bytes: the bound of each tier.
        disk_bytes: the bound of memory-mapped features. Defaults to `20 * 10**9`.
    """
    key = (str(directory.resolve()) if directory is not None else None, max_bytes, disk_bytes)
    if key not in _STORES:
        _STORES[key] = ArrayStore(directory, max_bytes, disk_bytes)
    return _STORES[key]


def clear_shared_stores() -> None:
    """Forget every process-wide store (their disk entries stay)."""
    _STORES.clear()
