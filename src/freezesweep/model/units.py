"""Units of a backbone: the weight-bearing layers or architecture blocks that unfreeze together.

A schedule unfreezes the top *k* units of a backbone. A unit is either one weight-bearing layer
(a BatchNormalization joins the layer that feeds it, so conv+BN is one unit) or a whole block found
from the architecture's layer names (`block_12_*`, `conv5_block3_*`, `expanded_conv_5_*`, ...).
Blocks unfreeze whole: partially unfrozen blocks fine-tune worse.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Literal

import keras

UnitKind = Literal["layer", "block"]

# The groups of each pattern, joined by "_", are the block key. First match wins. Layers that match
# none (stems, top convs, heads, Xception's auto-named shortcut convs) stay loose layer units.
_BLOCK_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        # The digits backbone, VGG and Xception (block4_conv2); EfficientNet V1/V2 (block6d_dwconv).
        r"^(block\d+[a-z]?)_",
        # MobileNetV2 (block_12_expand); its first block is expanded_conv_* below.
        r"^(block_\d+)_",
        # MobileNetV2's first block and MobileNetV3 (expanded_conv_5_expand). The optional number
        # is digits only, so expanded_conv_squeeze_excite_conv_1 stays in block expanded_conv.
        r"^(expanded_conv(?:_\d+)?)_",
        # ResNet v1/v2 bottlenecks, shortcut included (conv2_block1_0_conv); DenseNet conv blocks.
        r"^(conv\d+_block\d+)_",
        # DenseNet transition blocks (pool3_bn, pool3_conv): one unit, never a BN-only unit.
        r"^(pool\d+)_",
        # ConvNeXt blocks (convnext_tiny_stage_2_block_8_layernorm).
        r"^(\w*stage_\d+_block_\d+)_",
        # ConvNeXt downsampling blocks (convnext_tiny_downsampling_conv_1 -> ..._downsampling_1).
        r"^(\w*downsampling)_[a-z]+_(\d+)$",
    )
)


@dataclass(frozen=True)
class Unit:
    """Layers that are frozen and unfrozen together.

    Attributes:
        name: the block key (`"block3"`, `"conv5_block3"`, `"block_12"`, `"block1a"`,
            `"expanded_conv_5"`) or, for a layer unit, the name of its first layer.
        layers: the weight-bearing layers of the unit, in topological order.
        is_block: whether the unit was found as an architecture block.
    """

    name: str
    layers: tuple[keras.layers.Layer, ...]
    is_block: bool


def weight_bearing_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Leaf layers that own weights, in topological order, walking into nested models.

    A model used as a layer (Functional, Sequential) is walked into and never returned itself,
    so the layers of a backbone nested in a full model are found. A layer used twice is listed once.

    Args:
        model: the backbone or the full model.

    Returns:
        The layers with at least one weight, bottom (input side) first.

    Example:

    >>> from freezesweep.model.backbone import build_digits_backbone
    >>> backbone = build_digits_backbone()
    >>> [layer.name for layer in weight_bearing_layers(backbone)][:2]
    ['block1_conv1', 'block1_bn1']
    """
    found: dict[int, keras.layers.Layer] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update((id(inner), inner) for inner in weight_bearing_layers(layer))
        elif layer.weights:
            found.setdefault(id(layer), layer)
    return list(found.values())


def block_key(layer_name: str) -> str | None:
    """The block a layer belongs to, from the naming of `keras.applications` and this project.

    Known: the digits backbone, VGG, Xception, EfficientNet V1/V2, MobileNetV2/V3, ResNet v1/v2,
    DenseNet (conv blocks and transition blocks) and ConvNeXt (blocks and downsampling blocks).

    Args:
        layer_name: the layer's name.

    Returns:
        The block key, or `None` for a layer outside any known block.

    Example:

    >>> block_key("conv5_block3_2_conv"), block_key("expanded_conv_5_project"), block_key("Conv1")
    ('conv5_block3', 'expanded_conv_5', None)
    """
    for pattern in _BLOCK_PATTERNS:
        match = pattern.match(layer_name)
        if match:
            return "_".join(match.groups())
    return None


def find_units(model: keras.Model, unit: UnitKind = "layer") -> list[Unit]:
    """Units of a backbone from bottom (input side) to top (output side).

    With `unit="layer"` every weight-bearing layer that is not a BatchNormalization starts a unit.
    A BatchNormalization joins the unit of the layer that directly feeds it in the graph (the
    producer of its first input); when that producer owns no weights (an `Add`, a pooling layer,
    an input) or there is no graph, the BatchNormalization is a unit of its own.

    With `unit="block"` the layers with a `block_key` are grouped by key into one unit per block,
    placed at the position of the block's first layer; the other layers (stem, top conv, head)
    form layer units as above. The units partition `weight_bearing_layers(model)`.

    Args:
        model: the backbone, or a full model with the backbone nested in it.
        unit: `"layer"` or `"block"`. Defaults to `"layer"`.

    Returns:
        The units, bottom first; the last `k` are the top `k` units.

    Raises:
        ValueError: if `unit` is neither `"layer"` nor `"block"`.

    Example:

    >>> from freezesweep.model.backbone import build_digits_backbone
    >>> units = find_units(build_digits_backbone(), "block")
    >>> [unit.name for unit in units]
    ['block1', 'block2', 'block3', 'block4']
    """
    if unit not in ("layer", "block"):
        raise ValueError(f"unit must be 'layer' or 'block'; got {unit!r}.")
    groups: list[tuple[str, bool, list[keras.layers.Layer]]] = []
    group_of_layer: dict[int, int] = {}
    group_of_block: dict[str, int] = {}
    for layer in weight_bearing_layers(model):
        key = block_key(layer.name) if unit == "block" else None
        index: int | None = None
        if key is not None:
            index = group_of_block.get(key)
        elif isinstance(layer, keras.layers.BatchNormalization):
            index = group_of_layer.get(id(_feeding_layer(layer)))
        if index is None:
            index = len(groups)
            groups.append((key or layer.name, key is not None, []))
            if key is not None:
                group_of_block[key] = index
        groups[index][2].append(layer)
        group_of_layer[id(layer)] = index
    return [Unit(name, tuple(layers), is_block) for name, is_block, layers in groups]


def layers_matching(model: keras.Model, pattern: str) -> list[keras.layers.Layer]:
    """Weight-bearing layers whose name matches a shell-style pattern, case-sensitively.

    Args:
        model: the backbone or the full model.
        pattern: an `fnmatch` pattern such as `"block4_*"`.

    Returns:
        The matching layers in topological order; `[]` when none match.

    Example:

    >>> from freezesweep.model.backbone import build_digits_backbone
    >>> [layer.name for layer in layers_matching(build_digits_backbone(), "block4_*")]
    ['block4_conv1', 'block4_bn1', 'block4_conv2', 'block4_bn2']
    """
    return [
        layer for layer in weight_bearing_layers(model) if fnmatch.fnmatchcase(layer.name, pattern)
    ]


def _feeding_layer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The layer that produced the input of `layer`'s first call, or `None` outside a graph."""
    try:
        tensor = layer.input
    except (AttributeError, ValueError):  # never called symbolically (subclassed models)
        return None
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation
