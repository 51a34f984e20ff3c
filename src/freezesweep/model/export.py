"""Saving a fine-tuned model as a plain `.keras` file, LoRA factors merged into the kernels.

Keras already writes a LoRA layer's kernel merged (`kernel + alpha / rank * A @ B`) and leaves
the factors out of the weights file, but its config still asks for `lora_rank`, so loading would
add fresh zero factors. Dropping those keys from the archive's config makes the file an ordinary
model that any Keras loads in safe mode, with the same predictions. The compile settings are
dropped too: the last stage's optimizer is training state, not part of the fine-tuned model.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import keras

_CONFIG = "config.json"
_LORA_KEYS = ("lora_rank", "lora_alpha")


def _without_lora(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_lora(value) for key, value in node.items() if key not in _LORA_KEYS}
    if isinstance(node, list):
        return [_without_lora(value) for value in node]
    return node


def save_merged(model: keras.Model, path: Path) -> Path:
    """Save `model` to `path` (`.keras`) with every LoRA adapter merged into its kernel.

    The model itself is left as it is (its adapters stay enabled).

    Args:
        model: the fine-tuned model.
        path: the file to write, ending in `.keras`.

    Returns:
        `path`.

    Example:

    >>> import keras, tempfile, pathlib
    >>> layer = keras.layers.Dense(2)
    >>> model = keras.Sequential([keras.Input((3,)), layer])
    >>> layer.enable_lora(1)
    >>> path = save_merged(model, pathlib.Path(tempfile.mkdtemp()) / "model.keras")
    >>> len(keras.saving.load_model(path).weights)
    2
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="freezesweep-save-") as folder:
        staged = Path(folder) / "model.keras"
        model.save(staged)
        with zipfile.ZipFile(staged) as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == _CONFIG:
                    config = _without_lora(json.loads(data))
                    config.pop("compile_config", None)
                    data = json.dumps(config).encode()
                target.writestr(item, data)
    return path


__all__ = ["save_merged"]
