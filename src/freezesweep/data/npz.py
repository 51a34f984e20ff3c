"""Datasets from `.npz` files: `x_train`, `y_train`, `x_val`, `y_val`, checked before training."""

from __future__ import annotations

import numpy as np

from freezesweep.data.feed import Dataset
from freezesweep.errors import ConfigError


def load_npz(path: str) -> Dataset:
    """Load `x_train`, `y_train`, `x_val`, `y_val` from a `.npz` file, checking shapes and labels.

    Args:
        path: the file. No default.

    Returns:
        The dataset; the class count is one more than the largest label.

    Raises:
        ConfigError: naming `data.path` and what is wrong with the arrays.
    """
    keys = ("x_train", "y_train", "x_val", "y_val")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in keys if key not in arrays.files]
            if missing:
                raise ConfigError(f"data.path: {path} lacks array(s) {', '.join(missing)}.")
            parts = {key: arrays[key] for key in keys}
    except (OSError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"data.path: cannot read {path} as .npz: {error}") from error
    for split in ("train", "val"):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if len(x) != len(y):
            raise ConfigError(
                f"data.path: x_{split} has {len(x)} rows but y_{split} has {len(y)} in {path}."
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise ConfigError(
                f"data.path: y_{split} must be a 1-D array of integer class ids >= 0 in {path}."
            )
    if parts["x_train"].shape[1:] != parts["x_val"].shape[1:]:
        raise ConfigError(
            f"data.path: x_train images are {parts['x_train'].shape[1:]} but x_val images are "
            f"{parts['x_val'].shape[1:]} in {path}."
        )
    num_classes = int(max(parts["y_train"].max(), parts["y_val"].max())) + 1
    if num_classes < 2:
        raise ConfigError(f"data.path: {path} has fewer than 2 classes.")
    if parts["x_train"].ndim == 3:  # grayscale without a channel axis
        parts["x_train"], parts["x_val"] = parts["x_train"][..., None], parts["x_val"][..., None]
    return Dataset(
        x_train=parts["x_train"].astype("float32"),
        y_train=parts["y_train"].astype("int64"),
        x_val=parts["x_val"].astype("float32"),
        y_val=parts["y_val"].astype("int64"),
        num_classes=num_classes,
    )
