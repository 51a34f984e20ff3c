"""A trial's backbone and model from its spec (`freezesweep.prepare` puts them together with
the data, in the order that fails cheapest first)."""

from __future__ import annotations

import keras

from freezesweep.errors import ConfigError
from freezesweep.model import backbone as backbones
from freezesweep.model.keras_app import Preprocess, build_application, preprocessing
from freezesweep.runtime import with_global_policy
from freezesweep.spec import TrialSpec


def build_backbone(spec: TrialSpec) -> tuple[keras.Model, Preprocess | None]:
    """The configured backbone (under the current dtype policy) and its preprocessing.

    Args:
        spec: the trial spec.

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


def build_model(spec: TrialSpec, backbone: keras.Model, num_classes: int) -> keras.Model:
    """The full model: the backbone nested in it, then the head.

    Args:
        spec: the trial spec.
        backbone: the backbone from `build_backbone`.
        num_classes: the data's class count.

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
