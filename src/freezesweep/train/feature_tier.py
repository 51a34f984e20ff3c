"""Where a cut's features live: in memory, on disk memory-mapped, or nowhere (a stage uncached).

The memory bound is the smaller of `trainer.feature_cache_gb` and half the memory available
(`freezesweep.free_memory`). Features within it are kept in the `ArrayStore` (memory, and its
`.npz` disk tier). Larger ones are written once to the store's folder as memory-mapped files
(`feature_files`). Where the folder cannot take them (none, read-only, over
`trainer.feature_disk_gb`), features that still fit the free memory are computed in memory for
the stage and not kept; features that do not are not computed at all: the stage runs uncached,
reading the images batch by batch, and its status says why.

The files are float16 where the values allow on TensorFlow only: `freezesweep.data.feed` casts
them a batch at a time there, while Keras's array adapter on JAX and torch casts any float array
that is not float32 whole into memory first, which would defeat the files. On those backends they
are float32.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras
import numpy as np

from freezesweep.data.feed import Dataset, TrainingData
from freezesweep.free_memory import MemoryBound, memory_bound
from freezesweep.train.feature_cache import Split, cache_key
from freezesweep.train.feature_files import FeatureFiles, Unwritable
from freezesweep.train.feature_rows import Rows, stage_rows
from freezesweep.train.store import ArrayStore

logger = logging.getLogger(__name__)
FLOAT32_ONLY = "float16 files only on TensorFlow"


@dataclass(frozen=True)
class Features:
    """A cut's features, ready to train on.

    Attributes:
        data: the features as a `Dataset` (same labels; memory-mapped arrays when on disk).
        hit: whether they came from the store.
        where: the tier, the bytes and the bound, for the log
            (e.g. `disk, float16, 73728 bytes, bound 1000 bytes = trainer.feature_cache_gb`).
    """

    data: Dataset
    hit: bool
    where: str


def cached_features(split: Split, data: TrainingData, store: ArrayStore) -> Features | str:
    """The train and validation features at the cut, from the store or computed now, or why the
    stage runs uncached (`off: <reason>`, when they fit neither memory nor the cache folder).

    Args:
        split: the model's split for this stage.
        data: the stage's arrays, or a streamed folder's pipelines (with `frozen`).
        store: where features are kept.
    """
    rows = stage_rows(split.lower, data)
    key = cache_key(split, rows.digest)
    size = _row_bytes(split) * (len(rows.y_train) + len(rows.y_val))
    bound = memory_bound(store.max_bytes)
    if size > bound.bytes:
        unwritable = ""
        if store.directory is None:
            refused = "no cache folder: a run outside a sweep keeps features in memory only"
        else:
            mapped = _mapped_features(split, rows, store, key)
            if not isinstance(mapped, str):
                train, val, hit = mapped
                dataset = Dataset(train, rows.y_train, val, rows.y_val, data.num_classes)
                return Features(dataset, hit, _where(dataset, bound))
            unwritable = mapped
            refused = f"the cache folder {store.directory} cannot take them ({mapped})"
        if not bound.fits_memory(size):
            return f"off: {size} bytes of features exceed the {bound}, and {refused}"
        if unwritable:
            logger.warning(
                "feature cache: cannot keep %d bytes of features in %s (%s); computed in "
                "memory for this stage instead", size, store.directory, unwritable,
            )  # fmt: skip
    entry = store.get(key)
    hit = entry is not None and entry["train"].shape[0] == len(rows.y_train)
    if not hit:
        entry = {name: np.concatenate(list(chunks())) for name, chunks in rows.chunks.items()}
        if size <= bound.bytes:
            store.put(key, entry)
    assert entry is not None
    dataset = Dataset(entry["train"], rows.y_train, entry["val"], rows.y_val, data.num_classes)
    return Features(dataset, hit, _where(dataset, bound))


def _row_bytes(split: Split) -> int:
    """Bytes of one row of features at the cut in float32."""
    return int(np.prod(split.lower.output.shape[1:])) * 4


def _mapped_features(
    split: Split, rows: Rows, store: ArrayStore, key: str
) -> tuple[np.ndarray, np.ndarray, bool] | str:
    """The entry's arrays and whether it was there, or why the folder cannot take it."""
    assert store.directory is not None
    files = FeatureFiles(store.directory, store.disk_bytes)
    entry = files.open(key, (len(rows.y_train), len(rows.y_val)))
    hit = entry is not None
    if entry is None:
        row = tuple(int(dimension) for dimension in split.lower.output.shape[1:])
        counts = {"train": len(rows.y_train), "val": len(rows.y_val)}
        shapes = {name: (count, *row) for name, count in counts.items()}
        try:
            entry = files.write(key, rows.chunks, shapes, compact=_compact())
        except Unwritable as error:
            return str(error)
    return entry.train, entry.val, hit


def _compact() -> bool:
    """Whether files may be float16: on TensorFlow only (see the module's docstring)."""
    return keras.backend.backend() == "tensorflow"


def _where(features: Dataset, bound: MemoryBound) -> str:
    """`disk, <dtype>`, `memory` or `memory (over the bound; not kept)`, the bytes, the bound."""
    size = int(features.x_train.nbytes + features.x_val.nbytes)
    if isinstance(features.x_train, np.memmap):
        tier = f"disk, {features.x_train.dtype.name}"
        if not _compact():
            tier += f" ({FLOAT32_ONLY})"
    else:
        tier = "memory" if size <= bound.bytes else "memory (over the bound; not kept)"
    return f"{tier}, {size} bytes, {bound}"


__all__ = ["Features", "cached_features"]
