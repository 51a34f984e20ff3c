"""EfficientNet-Lite0/1/2 as a Keras Functional model of standard layers, and the conversion of
the reference PyTorch state_dict (`efficientnet-lite-pytorch`) into it.

Lite differs from EfficientNet: ReLU6 instead of swish, no squeeze-and-excitation, and a stem and
head that are not scaled. The reference pads like TensorFlow's "SAME" (the extra row/column after
the image on strided convolutions); here strided convolutions get an explicit `ZeroPadding2D`
computed from the static input size, so every Keras backend pads the same way. Layers of MBConv
block `i` are named `block_{i}_*`, which the unit finder groups into one unit per block.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from freezesweep.errors import WeightFileError
from freezesweep.model.zoo import ZooEntry

# The reference's input normalisation, for RGB in [0, 1] (efficientnet-lite-pytorch's example).
MEAN_RGB = (0.485, 0.456, 0.406)
STDDEV_RGB = (0.229, 0.224, 0.225)
# (repeats, kernel, stride, expansion, input filters, output filters) of Lite0's seven stages.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN = {"momentum": 0.99, "epsilon": 1e-3}


def _round_filters(filters: int, width: float) -> int:
    # The reference's rounding to a multiple of 8, never more than 10% down.
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def block_args(item: ZooEntry) -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expansion, input filters, output filters) of every MBConv block.

    The first and last stages keep their repeats (Lite's fixed stem and head), the others scale by
    `item.depth`; the first block's input is the unscaled 32-channel stem.
    """
    blocks = []
    for index, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_STAGES):
        fixed = index in (0, len(_STAGES) - 1)
        count = repeats if fixed else math.ceil(item.depth * repeats)
        filters_in = 32 if index == 0 else _round_filters(filters_in, item.width)
        filters_out = _round_filters(filters_out, item.width)
        for repeat in range(count):
            blocks.append((kernel, stride if repeat == 0 else 1, expand, filters_in, filters_out))
            filters_in = filters_out
    return blocks


def _conv(
    x: keras.KerasTensor, layer: keras.layers.Layer, stride: int, name: str
) -> keras.KerasTensor:
    """`layer` (a strided conv is given "valid" padding) after TensorFlow-"SAME" padding."""
    if stride == 1:
        return layer(x)
    kernel = layer.kernel_size[0]
    pads = []
    for size in x.shape[1:3]:
        if size is None:
            raise ValueError("EfficientNet-Lite needs a fixed input size.")
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    x = keras.layers.ZeroPadding2D(tuple(pads), name=f"{name}_pad")(x)
    return layer(x)


def build(
    item: ZooEntry, *, input_size: int | None = None, include_top: bool = True
) -> keras.Model:
    """The architecture with untrained weights.

    Args:
        item: the zoo entry.
        input_size: height and width of the RGB input. Defaults to `None` (the entry's
            ImageNet resolution).
        include_top: add the ImageNet classifier (`avg_pool`, `top_dropout`, `logits`, softmax
            `predictions`); else the output is the last feature map (`top_relu`). Defaults to
            `True`.

    Returns:
        A Functional model from RGB images in [0, 255] (its preprocessing is inside).
    """
    size = input_size or item.resolution
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = keras.layers.Normalization(
        mean=list(MEAN_RGB), variance=[std**2 for std in STDDEV_RGB], name="normalize"
    )(x)
    stem = keras.layers.Conv2D(32, 3, strides=2, padding="valid", use_bias=False, name="stem_conv")
    x = _conv(x, stem, 2, "stem")
    x = keras.layers.BatchNormalization(**_BN, name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    for index, (kernel, stride, expand, filters_in, filters_out) in enumerate(block_args(item)):
        prefix = f"block_{index}"
        shortcut = x
        if expand != 1:
            x = keras.layers.Conv2D(
                filters_in * expand, 1, use_bias=False, name=f"{prefix}_expand"
            )(x)
            x = keras.layers.BatchNormalization(**_BN, name=f"{prefix}_expand_bn")(x)
            x = keras.layers.ReLU(6.0, name=f"{prefix}_expand_relu")(x)
        depthwise = keras.layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            padding="same" if stride == 1 else "valid",
            use_bias=False,
            name=f"{prefix}_depthwise",
        )
        x = _conv(x, depthwise, stride, prefix)
        x = keras.layers.BatchNormalization(**_BN, name=f"{prefix}_depthwise_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"{prefix}_depthwise_relu")(x)
        x = keras.layers.Conv2D(filters_out, 1, use_bias=False, name=f"{prefix}_project")(x)
        x = keras.layers.BatchNormalization(**_BN, name=f"{prefix}_project_bn")(x)
        if stride == 1 and filters_in == filters_out:
            x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    x = keras.layers.Conv2D(1280, 1, use_bias=False, name="top_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name="top_bn")(x)
    x = keras.layers.ReLU(6.0, name="top_relu")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(item.dropout, name="top_dropout")(x)
        x = keras.layers.Dense(1000, name="logits")(x)
        x = keras.layers.Activation("softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, x, name=item.name)


def _torch_names(layer_name: str) -> str | None:
    """The state_dict prefix of a Keras layer (`block_3_expand` -> `_blocks.3._expand_conv`)."""
    fixed = {
        "stem_conv": "_conv_stem",
        "stem_bn": "_bn0",
        "top_conv": "_conv_head",
        "top_bn": "_bn1",
        "logits": "_fc",
    }
    if layer_name in fixed:
        return fixed[layer_name]
    parts = {
        "expand": "_expand_conv",
        "expand_bn": "_bn0",
        "depthwise": "_depthwise_conv",
        "depthwise_bn": "_bn1",
        "project": "_project_conv",
        "project_bn": "_bn2",
    }
    _, index, part = layer_name.split("_", 2)
    return f"_blocks.{index}.{parts[part]}" if part in parts else None


def _converted(
    layer: keras.layers.Layer, prefix: str, state: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """The layer's weights from the state_dict, in Keras's order and layout."""

    def tensor(suffix: str) -> np.ndarray:
        key = f"{prefix}.{suffix}"
        if key not in state:
            raise WeightFileError(f"the state_dict has no tensor {key} (another architecture?).")
        return state[key]

    if isinstance(layer, keras.layers.BatchNormalization):
        return [tensor(name) for name in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # torch (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [tensor("weight").transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):  # torch (out, in, kh, kw) -> (kh, kw, in, out)
        return [tensor("weight").transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.Dense):  # torch (out, in) -> (in, out)
        return [tensor("weight").T, tensor("bias")]
    raise WeightFileError(f"no conversion for layer {layer.name} ({type(layer).__name__}).")


def load_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Set a `build` model's weights from the reference state_dict.

    Raises:
        WeightFileError: a tensor is missing, has the wrong shape, or is left over.
    """
    used: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_names(layer.name)
        if prefix is None:
            raise WeightFileError(f"no state_dict tensor maps to layer {layer.name}.")
        values = _converted(layer, prefix, state)
        if len(values) != len(layer.weights):
            raise WeightFileError(f"layer {layer.name} has {len(layer.weights)} weights.")
        for variable, value in zip(layer.weights, values, strict=True):
            if tuple(variable.shape) != value.shape:
                raise WeightFileError(
                    f"tensor {prefix} has shape {value.shape} after conversion; "
                    f"{model.name} layer {layer.name} needs {tuple(variable.shape)}."
                )
        layer.set_weights([np.asarray(value, dtype="float32") for value in values])
        used.update(key for key in state if key.startswith(prefix + "."))
    left = sorted(
        key for key in state if key not in used and not key.endswith("num_batches_tracked")
    )
    if left:
        raise WeightFileError(
            f"the state_dict has {len(left)} tensors {model.name} does not use "
            f"(first: {left[0]}; another architecture?)."
        )
