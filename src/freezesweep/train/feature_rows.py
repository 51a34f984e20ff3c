"""What a cut's features are computed from: the rows of arrays, or of a streamed image folder.

Either way the feature cache sees a digest of the images as the backbone sees them, the labels,
and per split a function that runs the layers below the cut over the images chunk by chunk.
A streamed folder (too large to decode into arrays) is read through `Pipelines.frozen`: its
images unaugmented and uncached, in one fixed order. One pass gives the digest
and the labels (kept for the pipelines' lifetime, so later stages do not decode it again); the
features then take a second pass, when they are not cached already.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np

from freezesweep.data.feed import Dataset, Pipelines, TrainingData

PREDICT_BATCH = 256
Chunks = Callable[[], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Rows:
    """The images of a stage's data, as the feature cache needs them.

    Attributes:
        digest: SHA-256 of the images as the backbone sees them.
        y_train: training labels, in row order.
        y_val: validation labels.
        chunks: per split (`train`, `val`), a function giving the features at the cut in chunks.
    """

    digest: str
    y_train: np.ndarray
    y_val: np.ndarray
    chunks: dict[str, Chunks]


def stage_rows(lower: keras.Model, data: TrainingData) -> Rows:
    """The rows of arrays, or of a streamed folder's `frozen` pipelines.

    Args:
        lower: the model below the cut.
        data: arrays, or pipelines that carry `frozen`.
    """
    if isinstance(data, Dataset):
        chunks: dict[str, Chunks] = {
            "train": partial(_chunks, lower, data.x_train),
            "val": partial(_chunks, lower, data.x_val),
        }
        return Rows(data_digest(data), data.y_train, data.y_val, chunks)
    assert data.frozen is not None
    digest, labels = _scan(data)
    streamed: dict[str, Chunks] = {
        name: partial(_streamed, lower, data, index) for index, name in enumerate(labels)
    }
    return Rows(digest, labels["train"], labels["val"], streamed)


def data_digest(data: Dataset) -> str:
    """SHA-256 of the images as the backbone sees them (after resizing and preprocessing)."""
    digest = hashlib.sha256()
    for array in (data.x_train, data.x_val):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _chunks(lower: keras.Model, images: np.ndarray) -> Iterator[np.ndarray]:
    # predict_on_batch in fixed-size chunks: no callbacks, no progress bar, bounded memory.
    for start in range(0, len(images), PREDICT_BATCH):
        batch = lower.predict_on_batch(images[start : start + PREDICT_BATCH])
        yield keras.ops.convert_to_numpy(batch)


def _streamed(lower: keras.Model, data: Pipelines, index: int) -> Iterator[np.ndarray]:
    assert data.frozen is not None
    for images, _ in data.frozen()[index]:
        yield keras.ops.convert_to_numpy(lower.predict_on_batch(np.asarray(images)))


# The scans of pipelines, by identity; a weak reference tells a live one from a reused id, and
# keeps no pipeline (nor the images it may cache) alive after its trial.
_SCANS: dict[int, tuple[weakref.ref[Pipelines], str, dict[str, np.ndarray]]] = {}


def _scan(data: Pipelines) -> tuple[str, dict[str, np.ndarray]]:
    """The digest and labels of a streamed folder's frozen images: one pass, once."""
    known = _SCANS.get(id(data))
    if known is None or known[0]() is not data:
        assert data.frozen is not None
        digest, labels = hashlib.sha256(), {}
        for name, pipeline in zip(("train", "val"), data.frozen(), strict=True):
            digest.update(f"{name}|".encode())
            parts = []
            for images, targets in pipeline:
                array = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
                digest.update(f"{array.shape[1:]}|".encode())
                digest.update(array.tobytes())
                parts.append(np.asarray(targets))
            labels[name] = np.concatenate(parts)
        for key in [key for key, (ref, _, _) in _SCANS.items() if ref() is None]:
            del _SCANS[key]
        _SCANS[id(data)] = (weakref.ref(data), digest.hexdigest(), labels)
    _, digest_hex, labels = _SCANS[id(data)]
    return digest_hex, labels


__all__ = ["Rows", "data_digest", "stage_rows"]
