"""Datasets from `.npz` files: `x_train`, `y_train`, `x_val`, `y_val`, checked before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from freezesweep.data.feed import Dataset
from freezesweep.errors import ConfigError

_KEYS = ("x_train", "y_train", "x_val", "y_val")
# The largest pixel magnitude accepted: 16-bit images reach 65535; a value beyond is not a pixel
# (a scale gone wrong, e.g. x 1e30) and would make the first step's loss overflow.
MAX_PIXEL = 65535.0
# Every .npz is a zip archive; anything else (a text file, a pickle, a .npy) is refused by name
# rather than by whatever np.load makes of it ("pickled data").
_ZIP_SIGNATURE = b"PK\x03\x04"


def load_npz(path: str) -> Dataset:
    """Load `x_train`, `y_train`, `x_val`, `y_val` from a `.npz` file, checking every array.

    Args:
        path: the file.

    Returns:
        The dataset; the class count is the number of training labels, which must be the
        class ids `0..C-1`, each used (labels are refused, not mapped: a mapping would have
        to travel with the model to mean anything).

    Raises:
        ConfigError: naming `data.path`, the file and what is wrong with it: not a `.npz`
            archive, a missing or empty array, rows that do not match, labels that are not
            the class ids `0..C-1` or that only the validation split has, non-finite pixels
            or pixels beyond `MAX_PIXEL` in magnitude.
    """
    parts = _read(path)
    for split in ("train", "val"):
        _check_split(parts, split, path)
    if parts["x_train"].shape[1:] != parts["x_val"].shape[1:]:
        raise ConfigError(
            f"data.path: x_train images are {parts['x_train'].shape[1:]} but x_val images are "
            f"{parts['x_val'].shape[1:]} in {path}."
        )
    # A label only validation has would size the head (and its parameter count) by a class the
    # model never trains on.
    unseen = sorted(set(parts["y_val"].tolist()) - set(parts["y_train"].tolist()))
    if unseen:
        raise ConfigError(
            f"data.path: y_val has label(s) {_listed(unseen)} that y_train lacks in {path}; "
            "every validation class must be trained on."
        )
    labels = np.unique(parts["y_train"])
    if len(labels) < 2:
        raise ConfigError(f"data.path: {path} has fewer than 2 classes.")
    num_classes = len(labels)
    top = num_classes - 1
    if labels[-1] != top:  # sorted, distinct, >= 0: 0..C-1 exactly when max = C-1
        # As many labels lie above C-1 as class ids are missing below it: name both.
        above = [int(label) for label in labels if label > top]
        missing = sorted(set(range(num_classes)) - {int(label) for label in labels})
        raise ConfigError(
            f"data.path: y_train must hold the class ids 0..{top} (its {num_classes} classes), "
            f"each at least once; got {_labels(above)} above {top} and no {_labels(missing)} "
            f"in {path}. Map them to 0..{top} first."
        )
    if parts["x_train"].ndim == 3:  # grayscale without a channel axis
        parts["x_train"], parts["x_val"] = parts["x_train"][..., None], parts["x_val"][..., None]
    return Dataset(
        x_train=parts["x_train"].astype("float32"),
        y_train=parts["y_train"].astype("int64"),
        x_val=parts["x_val"].astype("float32"),
        y_val=parts["y_val"].astype("int64"),
        num_classes=num_classes,
    )


def _labels(values: list[int]) -> str:
    """`label 7` or `labels 1, 3, 5` (`_listed`)."""
    return f"label{'s' if len(values) > 1 else ''} {_listed(values)}"


def _listed(values: list[int], limit: int = 5) -> str:
    """Sorted `values`, all of them up to `limit`; beyond, the first ones, `...`, the last one
    (the largest label is what would size the head) and the count."""
    if len(values) <= limit:
        return ", ".join(str(value) for value in values)
    first = ", ".join(str(value) for value in values[: limit - 1])
    return f"{first}, ..., {values[-1]} ({len(values)} in all)"


def _check_split(parts: dict[str, np.ndarray], split: str, path: str) -> None:
    """One split's arrays: rows, labels that are class ids, real and finite pixels."""
    x, y = parts[f"x_{split}"], parts[f"y_{split}"]
    if len(x) == 0:
        raise ConfigError(f"data.path: x_{split} is empty in {path}.")
    if len(x) != len(y):
        raise ConfigError(
            f"data.path: x_{split} has {len(x)} rows but y_{split} has {len(y)} in {path}."
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ConfigError(
            f"data.path: y_{split} must be a 1-D array of integer class ids >= 0 in {path}."
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ConfigError(
            f"data.path: x_{split} must hold real numbers; got dtype {x.dtype} in {path}."
        )
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ConfigError(
            f"data.path: x_{split} has {bad} non-finite value(s) (NaN or Inf) in {path}."
        )
    peak = max(abs(float(x.max())), abs(float(x.min())))
    if peak > MAX_PIXEL:
        raise ConfigError(
            f"data.path: x_{split} has values of magnitude up to {peak:.4g}, beyond "
            f"{MAX_PIXEL:.0f} (16-bit pixels), in {path}; scale the images to pixels first."
        )


def _read(path: str) -> dict[str, np.ndarray]:
    """The four arrays, or a `ConfigError` saying why the file is not a usable `.npz`."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"data.path: file not found: {path}.")
    with file.open("rb") as handle:
        if handle.read(4) != _ZIP_SIGNATURE:
            raise ConfigError(f"data.path: {path} is not a .npz file (a NumPy zip archive).")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in _KEYS if key not in arrays.files]
            if missing:
                raise ConfigError(f"data.path: {path} lacks array(s) {', '.join(missing)}.")
            return {key: arrays[key] for key in _KEYS}
    except ConfigError:
        raise
    except Exception as error:  # a corrupt zip raises zipfile, OSError or ValueError errors
        raise ConfigError(f"data.path: cannot read {path} as .npz: {error}") from error
