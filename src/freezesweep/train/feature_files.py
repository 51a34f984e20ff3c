"""Features larger than the memory bound: written once to disk, read back memory-mapped.

A cut's features that exceed the memory bound (`freezesweep.train.feature_tier`) are computed
chunk by chunk straight into `.npy` files in the cache folder (never whole in memory), in
float16 unless a value would overflow float16's range or the caller asks for float32
(`compact=False`), and each split is opened with `np.load(mmap_mode="r")`: a cached stage reads
only the rows of each batch (`freezesweep.data.feed` gathers them).

An entry is three files, `<key>.mapped.train.npy`, `<key>.mapped.val.npy` and `<key>.mapped.json`
(shapes, dtype and the SHA-256 of each array's bytes). Each is written under a temporary name and
renamed into place, the JSON last, so an entry without its JSON is unfinished and ignored. An entry
whose files are short, damaged or fail their digest is deleted (if the folder's manifest names it)
and reported missing, so the caller rebuilds it. The digests are checked once per process and file.
Entries are named in the store's manifest and evicted least recently used beyond
`trainer.feature_disk_gb`; nothing the manifest does not name is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freezesweep.disk import append_line, disk_full, is_disk_full
from freezesweep.train.store import MANIFEST_NAME

SUFFIX = ".mapped"
SPLITS = ("train", "val")
FLOAT16_MAX = float(np.finfo(np.float16).max)
_HASH_ROWS_BYTES = 64 * 2**20
# Files whose digest this process has checked: (path, size, mtime in ns).
_VERIFIED: set[tuple[str, int, int]] = set()

Chunks = Callable[[], Iterator[np.ndarray]]


class Unwritable(Exception):
    """The cache folder cannot take the entry (read-only, not a folder, over its disk bound)."""


@dataclass(frozen=True)
class MappedFeatures:
    """The train and validation features of one cut, memory-mapped from the cache folder."""

    train: np.ndarray
    val: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of both splits on disk (their data, without the small `.npy` headers)."""
        return int(self.train.nbytes + self.val.nbytes)


class FeatureFiles:
    """The memory-mapped entries of a cache folder.

    Args:
        directory: the cache folder (`sweeps/<study>/cache/`).
        max_bytes: the bound of all mapped entries together (`trainer.feature_disk_gb`).
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def file(self, key: str, part: str) -> Path:
        """An entry's file: `part` is `train`, `val` (`.npy`) or `json`."""
        name = f"{key}{SUFFIX}.json" if part == "json" else f"{key}{SUFFIX}.{part}.npy"
        return self.directory / name

    def open(self, key: str, rows: tuple[int, int]) -> MappedFeatures | None:
        """The entry under `key`, memory-mapped, if whole and with `rows` train/val rows."""
        if not self.file(key, "json").is_file():
            return None
        try:
            meta = json.loads(self.file(key, "json").read_text(encoding="utf-8"))
            arrays = [self._mapped(key, split, meta[split]) for split in SPLITS]
            valid = tuple(len(array) for array in arrays) == rows
        except Exception:  # a damaged JSON or `.npy` raises many types
            valid = False
        if not valid:
            self.remove(key)
            return None
        now = time.time_ns()  # least recently *used* is what eviction drops
        with contextlib.suppress(OSError):
            os.utime(self.file(key, "json"), ns=(now, now), follow_symlinks=False)
        return MappedFeatures(*arrays)

    def _mapped(self, key: str, split: str, meta: dict[str, object]) -> np.ndarray:
        path = self.file(key, split)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if [list(array.shape), array.dtype.str] != [meta["shape"], meta["dtype"]]:
            raise ValueError(f"{path}: shape or dtype differs from its JSON")
        stat = path.stat()
        mark = (str(path), stat.st_size, stat.st_mtime_ns)
        if mark not in _VERIFIED:
            if _digest(array) != meta["sha256"]:
                raise ValueError(f"{path}: SHA-256 differs from its JSON")
            _VERIFIED.add(mark)
        return array

    def write(
        self,
        key: str,
        chunks: dict[str, Chunks],
        shapes: dict[str, tuple[int, ...]],
        compact: bool = True,
    ) -> MappedFeatures:
        """Write an entry from chunks of rows per split, in float16 where the values allow.

        Args:
            key: the entry's key.
            chunks: per split, a function giving its rows chunk by chunk (called again if the
                values overflow float16 and the entry is written in float32 instead).
            shapes: per split, the shape of the whole array.
            compact: whether float16 may be used; else float32. Defaults to `True`.

        Raises:
            Unwritable: the folder is read-only or otherwise cannot take the entry.
            DiskFull: `disk full writing the feature cache to <path> (...)`.
        """
        first = np.dtype(np.float16 if compact else np.float32)
        needed = sum(first.itemsize * int(np.prod(shape)) for shape in shapes.values())
        if needed > self.max_bytes:
            raise Unwritable(f"{needed} bytes in {first.name} exceed trainer.feature_disk_gb")
        try:
            # Named before any file exists; never through a link (folder or manifest).
            append_line(self.directory, MANIFEST_NAME, f"{key}{SUFFIX}")
            self._evict(needed)
            meta = self._write_splits(key, chunks, shapes, first)
            if meta is None:  # a value beyond float16's range: the exact dtype instead
                meta = self._write_splits(key, chunks, shapes, np.dtype(np.float32))
            assert meta is not None
            _replace_text(self.file(key, "json"), json.dumps(meta))
        except OSError as error:
            if is_disk_full(error):
                raise disk_full(error, "the feature cache", self.file(key, "train")) from None
            raise Unwritable(f"{error.strerror or error}") from None
        entry = self.open(key, (shapes["train"][0], shapes["val"][0]))
        if entry is None:
            raise Unwritable("the entry written could not be read back")
        return entry

    def _write_splits(
        self, key: str, chunks: dict[str, Chunks], shapes: dict[str, tuple[int, ...]], dtype: Any
    ) -> dict[str, dict[str, object]] | None:
        meta: dict[str, dict[str, object]] = {}
        for split in SPLITS:
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".partial")
            os.close(handle)
            try:
                digest = _fill(Path(temporary), chunks[split], shapes[split], dtype)
                if digest is None:
                    os.unlink(temporary)
                    return None
                os.replace(temporary, self.file(key, split))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            meta[split] = {"shape": list(shapes[split]), "dtype": dtype.str, "sha256": digest}
        return meta

    def owned(self) -> list[str]:
        """The keys of the mapped entries the manifest names."""
        try:
            lines = (self.directory / MANIFEST_NAME).read_text(encoding="utf-8").split()
        except OSError:
            return []
        return [line[: -len(SUFFIX)] for line in dict.fromkeys(lines) if line.endswith(SUFFIX)]

    def remove(self, key: str) -> None:
        """Delete an entry's files, if the manifest names it (never a link)."""
        if key not in self.owned():
            return
        for part in ("json", *SPLITS):
            path = self.file(key, part)
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()

    def _evict(self, needed: int) -> None:
        """Drop least recently used entries until `needed` more bytes fit the bound."""
        sizes: list[tuple[int, int, str]] = []
        for key in self.owned():
            paths = [self.file(key, part) for part in ("json", *SPLITS)]
            if all(path.is_file() and not path.is_symlink() for path in paths):
                used = paths[0].stat().st_mtime_ns
                sizes.append((used, sum(path.stat().st_size for path in paths), key))
        total = sum(size for _, size, _ in sizes)
        for _, size, key in sorted(sizes):
            if total + needed <= self.max_bytes:
                break
            self.remove(key)
            total -= size


def _fill(path: Path, chunks: Chunks, shape: tuple[int, ...], dtype: Any) -> str | None:
    """Write rows into a `.npy` file of `shape`; their SHA-256, or `None` on float16 overflow."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    digest, start = hashlib.sha256(), 0
    try:
        for chunk in chunks():
            if dtype == np.float16 and _overflows(chunk):
                return None
            rows = chunk.astype(dtype)
            array[start : start + len(rows)] = rows
            digest.update(np.ascontiguousarray(rows).data)
            start += len(rows)
        if start != shape[0]:
            raise ValueError(f"{start} rows computed for {shape[0]}")
        array.flush()
    finally:
        del array
    return digest.hexdigest()


def _overflows(chunk: np.ndarray) -> bool:
    # A finite value beyond float16's range would become infinite; inf and NaN stay what they are.
    finite = np.abs(chunk[np.isfinite(chunk)])
    return bool(finite.size) and float(finite.max()) > FLOAT16_MAX


def _digest(array: np.ndarray) -> str:
    digest = hashlib.sha256()
    step = max(1, _HASH_ROWS_BYTES // max(1, array[:1].nbytes))
    for start in range(0, len(array), step):
        digest.update(np.ascontiguousarray(array[start : start + step]).data)
    return digest.hexdigest()


def _replace_text(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
