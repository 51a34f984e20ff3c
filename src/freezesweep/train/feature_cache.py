"""The frozen-boundary feature cache: a stage trains only what is above its lowest trainable unit.

Under `bn=frozen` the backbone runs in inference mode, so everything below the stage's lowest
trainable unit (the *cut*) computes the same features every epoch. Those features are computed once
per train/validation set and kept in an `ArrayStore`; the stage then fits an *upper* model
(cut -> rest of the backbone -> head) built from the full model's own layer objects, so the weights
it trains are the full model's weights and the freeze audit of the full model stays exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import keras
import numpy as np

from freezesweep.data.feed import Dataset, Pipelines, TrainingData
from freezesweep.freeze.plan import StagePlan
from freezesweep.train.feature_rows import data_digest

# Layers that draw random numbers; none may sit below a cut.
_RANDOM_LAYERS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


@dataclass(frozen=True)
class Split:
    """The full model cut in two at a single-tensor boundary of the backbone.

    Attributes:
        lower: backbone input -> cut (frozen; computed once).
        upper: cut -> model output, sharing the full model's layers.
        cut: a readable name of the boundary, e.g. `"input of block4_conv1"`.
    """

    lower: keras.Model
    upper: keras.Model
    cut: str


def split_at_cut(
    model: keras.Model, backbone: keras.Model, plan: StagePlan, bn: str, data: TrainingData
) -> Split | str:
    """Split the model below the stage's lowest trainable unit, or say why it cannot be.

    Args:
        model: the full model, planned for this stage.
        backbone: the nested backbone.
        plan: the stage's plan.
        bn: the BatchNormalization policy.
        data: what the stage trains on.

    Returns:
        The split, or the reason the normal path runs (the `off: <reason>` text).
    """
    if isinstance(data, Pipelines) and data.frozen is None:
        return "data is an augmented tf.data pipeline (random below the cut)"
    if bn != "frozen":
        return "bn=train runs the layers below the cut in training mode"
    layers = list(backbone.layers)
    trainable = {id(layer) for layer in plan.layers}
    positions = [index for index, layer in enumerate(layers) if id(layer) in trainable]
    # Head-only: the cut is the backbone's output; else the input of the lowest trainable layer,
    # moved down until it is a single-tensor boundary (not inside a residual connection).
    candidates: list[tuple[keras.KerasTensor, str]] = []
    if not positions:
        candidates.append((backbone.output, f"output of {backbone.name}"))
    else:
        for index in range(min(positions), 0, -1):
            layer = layers[index]
            if isinstance(layer.input, keras.KerasTensor):
                candidates.append((layer.input, f"input of {layer.name}"))
    for tensor, name in candidates:
        try:
            split = _split(model, backbone, tensor, name)
        except ValueError:  # Keras: an output not connected to the cut (a residual crosses it)
            split = None
        if split is not None:
            randomness = [
                layer.name for layer in split.lower.layers if isinstance(layer, _RANDOM_LAYERS)
            ]
            if randomness:
                return f"random layer {randomness[0]!r} below the cut"
            if not split.lower.weights:
                return "nothing weight-bearing below the lowest trainable unit"
            return split
    return "no single-tensor boundary below the lowest trainable unit"


def _split(
    model: keras.Model, backbone: keras.Model, cut: keras.KerasTensor, name: str
) -> Split | None:
    if any(cut is tensor for tensor in backbone.inputs):
        return None
    lower = keras.Model(backbone.inputs, cut, name="below_cut")
    inner = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    below = {id(layer) for layer in lower.layers}
    if cut is backbone.output:
        above: keras.Model | None = None
        above_ids: set[int] = set()
    else:
        above = keras.Model(cut, backbone.output, name="above_cut")
        above_ids = {id(layer) for layer in above.layers}
    # A single-tensor boundary: every backbone layer is on exactly one side of it.
    layer_ids = {id(layer) for layer in inner}
    if (below & above_ids) or (below | above_ids) & layer_ids != layer_ids:
        return None
    head_input = _head_input(model, backbone)
    head = keras.Model(head_input, model.output, name="head")
    features = keras.Input(shape=tuple(cut.shape[1:]), dtype=cut.dtype, name="features")
    # training=False as in the full model under bn=frozen: BN above the cut stays in inference.
    top = above(features, training=False) if above is not None else features
    upper = keras.Model(features, head(top), name="above_cut_with_head")
    return Split(lower=lower, upper=upper, cut=name)


def _head_input(model: keras.Model, backbone: keras.Model) -> keras.KerasTensor:
    # The tensor the outer model feeds from the backbone's call: the input of the first head layer.
    for layer in model.layers:
        if layer is backbone or isinstance(layer, keras.layers.InputLayer):
            continue
        return layer.input
    raise ValueError(f"model {model.name!r} has no head above backbone {backbone.name!r}.")


def weights_digest(weights: list[keras.Variable]) -> str:
    """SHA-256 over the paths and values of some weights."""
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def cache_key(split: Split, data: Dataset | str) -> str:
    """What the features depend on: weights below the cut, data (arrays, or the digest of a
    streamed folder's images), cut, dtype policy, backend."""
    parts = (
        weights_digest(list(split.lower.weights)),
        data_digest(data) if isinstance(data, Dataset) else data,
        split.cut,
        str(tuple(split.lower.output.shape)),
        keras.config.dtype_policy().name,
        keras.backend.backend(),
    )
    return "features-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def same_trainable(upper: keras.Model, model: keras.Model) -> bool:
    """Whether the upper model trains exactly the full model's trainable weights."""
    ids = {id(weight) for weight in upper.trainable_weights}
    return ids == {id(weight) for weight in model.trainable_weights}


__all__ = ["Split", "cache_key", "data_digest", "same_trainable", "split_at_cut"]
