"""A trial's backbone, data and model, from its spec, in the order that fails cheapest first.

The backbone comes first (a missing `imagenet` file or a bad `feature_layer` fails before any data
is read), then the data fitted to the backbone's input, then the head sized to the data's classes.
"""

from __future__ import annotations

import keras

from freezesweep import data as datasets
from freezesweep.errors import ConfigError
from freezesweep.model import backbone as backbones
from freezesweep.model.keras_app import Preprocess, build_application, preprocessing
from freezesweep.runtime import with_global_policy
from freezesweep.spec import TrialSpec


def build_backbone(spec: TrialSpec) -> tuple[keras.Model, Preprocess | None]:
    """The configured backbone (under the current dtype policy) and its preprocessing.

    Args:
        spec: the trial spec. No default.

    Returns:
        The backbone, truncated at `backbone.feature_layer` when set, and the architecture's
        `preprocess_input` for `keras_app` backbones (`None` otherwise: the embedded backbone and
        `.keras` files carry their own rescaling).
    """
    config = spec.backbone
    preprocess = None
    if config.source == "keras_app":
        assert config.name is not None and config.input_shape is not None
        backbone = build_application(
            config.name,
            weights=config.weights,
            input_shape=config.input_shape,
            pooling=config.pooling,
        )
        preprocess = preprocessing(config.name)
    elif config.source == "zoo":
        from freezesweep.model.zoo.build import build_backbone as build_zoo_backbone

        assert config.name is not None and config.input_shape is not None
        # Built under the current dtype policy; the preprocessing is inside the model.
        backbone = build_zoo_backbone(config.name, config.input_shape[0])
    else:
        path = backbones.default_backbone_path() if config.source == "embedded" else config.path
        assert path is not None
        # A .keras file records float32 layers; rebuilt so a mixed-precision policy reaches them.
        backbone = with_global_policy(backbones.load_backbone(path, config.sha256))
    if config.feature_layer is not None:
        backbone = backbones.truncate(backbone, config.feature_layer)
    return backbone, preprocess


def load_data(
    spec: TrialSpec, image_shape: tuple[int, ...], preprocess: Preprocess | None = None
) -> datasets.TrainingData:
    """The configured data, fitted to the backbone's input.

    Image folders are read at the backbone's size and channels. Arrays (digits, npz) are resized
    and gray is repeated to RGB for `keras_app` backbones, whose input size is a setting; a
    `.keras` backbone has a fixed input that the arrays must match.

    Args:
        spec: the trial spec. No default.
        image_shape: the backbone's input shape. No default.
        preprocess: the architecture's `preprocess_input`. Defaults to `None`.
    """
    config = spec.data
    if config.kind == "image_folder":
        from freezesweep.data.image_folder import load_image_folder

        assert config.directory is not None
        return load_image_folder(
            config.directory,
            image_shape=image_shape,
            batch_size=spec.trainer.batch_size,
            validation_split=config.validation_split,
            seed=config.split_seed,
            cache=config.cache,
            augmentation=config.augmentation,
            preprocess=preprocess,
            # Arrays let the feature cache work; they share its memory bound.
            arrays_up_to=0
            if spec.trainer.feature_cache == "off"
            else int(spec.trainer.feature_cache_gb * 10**9),
        )
    if config.kind == "npz":
        assert config.path is not None
        arrays = datasets.load_npz(str(config.path))
    elif config.kind == "animal_mnist":
        from freezesweep.data.animals import animal_task

        arrays = animal_task(config.train_per_class, config.split_seed)
    elif config.kind == "digits_corrupted":
        from freezesweep.data.corrupt import corrupted_task

        assert config.corruption is not None
        arrays = corrupted_task(
            config.corruption, config.severity, config.train_per_class, config.split_seed
        )
    else:
        arrays = datasets.target_task(config.train_per_class, config.split_seed)
    if spec.backbone.source in ("keras_app", "zoo"):
        return datasets.fit_to_input(arrays, image_shape, preprocess)
    if tuple(arrays.x_train.shape[1:]) != tuple(image_shape):
        raise ConfigError(
            f"data: images are {tuple(arrays.x_train.shape[1:])} but the backbone expects "
            f"{tuple(image_shape)}."
        )
    return arrays


def build_model(spec: TrialSpec, backbone: keras.Model, num_classes: int) -> keras.Model:
    """The full model: the backbone nested in it, then the head.

    Args:
        spec: the trial spec. No default.
        backbone: the backbone from `build_backbone`. No default.
        num_classes: the data's class count. No default.

    Raises:
        ConfigError: naming `backbone.head.classes` when it differs from the data's classes.
    """
    classes = spec.backbone.classes
    if classes is not None and classes != num_classes:
        raise ConfigError(
            f"backbone.head.classes is {classes} but the data has {num_classes} classes."
        )
    return backbones.attach_head(
        backbone,
        num_classes,
        dropout=spec.backbone.dropout,
        backbone_training=False if spec.schedule.bn == "frozen" else None,
    )
