"""`freezesweep pretrain`: build and pretrain the embedded backbone on task A (digits 0-4)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import keras

from freezesweep import data as datasets
from freezesweep import runtime
from freezesweep.model import backbone as backbones

PRETRAIN_EPOCHS = 6
PRETRAIN_SEED = 0


def pretrain_backbone(
    output: Path, *, epochs: int = PRETRAIN_EPOCHS, seed: int = PRETRAIN_SEED, verbose: int = 2
) -> tuple[Path, str, float]:
    """Pretrain the digits backbone on task A and save it (backbone only) as a `.keras` file.

    Args:
        output: where to write the `.keras` file.
        epochs: training epochs. Defaults to `6`.
        seed: training seed. Defaults to `0`.
        verbose: Keras verbosity. Defaults to `2`.

    Returns:
        The file, its SHA-256, and the task-A validation accuracy.
    """
    runtime.seed_everything(seed)
    source = datasets.source_task()
    backbone = backbones.build_digits_backbone()
    # Task A trains the BN statistics too: the backbone runs in training mode here.
    model = backbones.attach_head(backbone, source.num_classes, backbone_training=None)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    model.fit(
        source.x_train,
        source.y_train,
        batch_size=64,
        epochs=epochs,
        validation_data=(source.x_val, source.y_val),
        verbose=verbose,
    )
    _, accuracy = model.evaluate(source.x_val, source.y_val, verbose=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    backbone.save(output)
    _normalise_archive(output)
    return output, backbones.file_sha256(output), float(accuracy)


def _normalise_archive(path: Path) -> None:
    """Make the `.keras` zip byte-reproducible: fixed entry times and no save date.

    Keras stamps the archive with the save time and numbers shared objects by Python `id()`;
    without this, the same weights would give a
    new SHA-256 on every run and the shipped hash could never be reproduced.
    """
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            if name == "metadata.json":
                metadata = json.loads(content)
                metadata.pop("date_saved", None)
                content = json.dumps(metadata, sort_keys=True).encode()
            elif name == "config.json":
                content = json.dumps(_renumber_shared_objects(json.loads(content))).encode()
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)


def _renumber_shared_objects(config: Any, numbers: dict[int, int] | None = None) -> Any:
    # `shared_object_id` only has to be consistent within one file; order of appearance is.
    numbers = {} if numbers is None else numbers
    if isinstance(config, dict):
        return {
            key: numbers.setdefault(value, len(numbers))
            if key == "shared_object_id"
            else _renumber_shared_objects(value, numbers)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_renumber_shared_objects(value, numbers) for value in config]
    return config
