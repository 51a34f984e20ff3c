"""Tests for freezesweep.model.units: layer and block units of real Keras architectures."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "freezesweep-keras-home"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "freezesweep-mpl"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable
from functools import cache

import keras
import pytest

from freezesweep.model.backbone import build_digits_backbone
from freezesweep.model.units import (
    block_key,
    find_units,
    layers_matching,
    weight_bearing_layers,
)

applications = keras.applications

# name: (builder, input shape, blocks, first unit, last unit); the smallest inputs Keras accepts.
ARCHITECTURES: dict[str, tuple[Callable[..., keras.Model], tuple[int, int, int], int, str, str]] = {
    "digits": (lambda **_: build_digits_backbone(), (28, 28, 1), 4, "block1", "block4"),
    # 17 inverted-residual blocks: expanded_conv + block_1..block_16.
    "MobileNetV2": (applications.MobileNetV2, (32, 32, 3), 17, "Conv1", "Conv_1"),
    # 11 bottleneck blocks: expanded_conv + expanded_conv_1..expanded_conv_10.
    "MobileNetV3Small": (applications.MobileNetV3Small, (32, 32, 3), 11, "conv", "conv_1"),
    # 15 bottleneck blocks: expanded_conv + expanded_conv_1..expanded_conv_14.
    "MobileNetV3Large": (applications.MobileNetV3Large, (32, 32, 3), 15, "conv", "conv_1"),
    # 16 MBConv blocks: 1+2+2+3+3+4+1.
    "EfficientNetB0": (applications.EfficientNetB0, (32, 32, 3), 16, "normalization", "top_conv"),
    # 26 MBConv blocks: 2+3+3+5+5+6+2 (B0's 1+2+2+3+3+4+1 scaled by depth 1.4, rounded up).
    "EfficientNetB3": (applications.EfficientNetB3, (32, 32, 3), 26, "normalization", "top_conv"),
    # 16 bottlenecks: 3+4+6+3.
    "ResNet50": (applications.ResNet50, (32, 32, 3), 16, "conv1_conv", "conv5_block3"),
    "ResNet50V2": (applications.ResNet50V2, (32, 32, 3), 16, "conv1_conv", "post_bn"),
    # 21 blocks: 1+2+2+3+5+8.
    "EfficientNetV2B0": (applications.EfficientNetV2B0, (32, 32, 3), 21, "stem_conv", "top_conv"),
    # 18 blocks (3+3+9+3) and 3 downsampling blocks.
    "ConvNeXtTiny": (
        applications.ConvNeXtTiny,
        (32, 32, 3),
        21,
        "convnext_tiny_stem_conv",
        "layer_normalization",
    ),
    # 58 conv blocks (6+12+24+16) and 3 transition blocks.
    "DenseNet121": (applications.DenseNet121, (32, 32, 3), 61, "conv1_conv", "bn"),
    # block1..block14; the unnamed residual shortcut convs stay layer units.
    "Xception": (applications.Xception, (71, 71, 3), 14, "block1", "block14"),
    "VGG16": (applications.VGG16, (32, 32, 3), 5, "block1", "block5"),
}


# Pinned in the default tier; the other architectures' pins run in the slow tier.
DEFAULT_TIER = ("digits", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50")
TIERED = [
    name if name in DEFAULT_TIER else pytest.param(name, marks=pytest.mark.slow)
    for name in ARCHITECTURES
]


@cache
def backbone(name: str) -> keras.Model:
    keras.backend.clear_session()
    builder, input_shape, *_ = ARCHITECTURES[name]
    return builder(include_top=False, weights=None, input_shape=input_shape)


@cache
def full_model(name: str) -> keras.Model:
    inner = backbone(name)
    inputs = keras.Input(shape=inner.input_shape[1:])
    features = inner(inputs, training=False)
    features = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(3, name="head_dense")(features)
    return keras.Model(inputs, outputs)


def names(layers: tuple[keras.layers.Layer, ...] | list[keras.layers.Layer]) -> list[str]:
    return [layer.name for layer in layers]


@pytest.mark.parametrize("name", TIERED)
def test_block_count_and_ends(name: str) -> None:
    _, _, blocks, first, last = ARCHITECTURES[name]
    units = find_units(backbone(name), "block")
    # The architecture's published number of blocks is found from its layer names.
    assert sum(unit.is_block for unit in units) == blocks
    # Units run from the stem (input side) to the top (output side).
    assert (units[0].name, units[-1].name) == (first, last)


@pytest.mark.parametrize("name", TIERED)
def test_nested_backbone_has_the_same_units_plus_the_head(name: str) -> None:
    alone = find_units(backbone(name), "block")
    nested = find_units(full_model(name), "block")
    # Nesting the backbone inside a full model changes neither its units nor their order.
    assert [(unit.name, unit.layers) for unit in nested[:-1]] == [
        (unit.name, unit.layers) for unit in alone
    ]
    # The head's Dense is one more loose layer unit, on top.
    assert (nested[-1].name, nested[-1].is_block) == ("head_dense", False)


@pytest.mark.parametrize("unit", ["layer", "block"])
@pytest.mark.parametrize("name", TIERED)
def test_units_partition_weight_bearing_layers_in_order(name: str, unit: str) -> None:
    model = full_model(name)
    layers = weight_bearing_layers(model)
    units = find_units(model, unit)  # type: ignore[arg-type]
    flattened = [layer for found in units for layer in found.layers]
    # Every weight-bearing layer is in exactly one unit.
    assert sorted(map(id, flattened)) == sorted(map(id, layers))
    # A unit sits at the position of its first layer, so units are ordered bottom to top.
    position = {id(layer): index for index, layer in enumerate(layers)}
    starts = [position[id(found.layers[0])] for found in units]
    assert starts == sorted(starts)
    # Layers inside a unit keep topological order.
    for found in units:
        inside = [position[id(layer)] for layer in found.layers]
        assert inside == sorted(inside)


def test_weight_bearing_layers_walk_into_nested_models() -> None:
    model = full_model("digits")
    found = weight_bearing_layers(model)
    # The nested backbone is walked into and never returned itself.
    assert not any(isinstance(layer, keras.Model) for layer in found)
    # Only layers that own weights are listed: convs, BNs and the head, not ReLU or pooling.
    assert names(found) == [*names(weight_bearing_layers(backbone("digits"))), "head_dense"]
    assert len(found) == 17


def test_nested_sequential_models_are_walked_into() -> None:
    units = find_units(backbone("ConvNeXtTiny"), "block")
    by_name = {unit.name: names(unit.layers) for unit in units}
    # ConvNeXt's downsampling Sequential models become blocks of their inner layers.
    assert by_name["convnext_tiny_downsampling_1"] == [
        "convnext_tiny_downsampling_layernorm_1",
        "convnext_tiny_downsampling_conv_1",
    ]


def test_layer_units_pair_each_conv_with_its_batch_normalization() -> None:
    units = find_units(backbone("digits"), "layer")
    # A BatchNormalization joins the conv that feeds it: 8 conv+BN units, none a block.
    assert [names(unit.layers) for unit in units] == [
        [f"block{block}_conv{conv}", f"block{block}_bn{conv}"]
        for block in range(1, 5)
        for conv in (1, 2)
    ]
    assert not any(unit.is_block for unit in units)
    # A layer unit is named after its first layer.
    assert units[0].name == "block1_conv1"


def test_batch_normalization_pairs_through_the_graph_not_by_adjacency() -> None:
    units = {unit.name: names(unit.layers) for unit in find_units(backbone("ResNet50"))}
    # ResNet's shortcut BN follows the main-branch conv in topological order, yet pairs with
    # the shortcut conv that feeds it.
    assert units["conv2_block1_0_conv"] == ["conv2_block1_0_conv", "conv2_block1_0_bn"]
    assert units["conv2_block1_3_conv"] == ["conv2_block1_3_conv", "conv2_block1_3_bn"]


def test_batch_normalization_fed_by_a_weightless_layer_is_its_own_unit() -> None:
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.BatchNormalization(name="input_bn")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.BatchNormalization(name="pool_bn")(x)
    model = keras.Model(inputs, x)
    # A BN fed by an input or by a layer without weights starts its own unit.
    assert [names(unit.layers) for unit in find_units(model)] == [
        ["input_bn"],
        ["conv"],
        ["pool_bn"],
    ]


@pytest.mark.parametrize(
    ("layer_name", "key"),
    [
        ("block4_bn2", "block4"),
        ("block1a_project_conv", "block1a"),
        ("block6h_se_reduce", "block6h"),
        ("block14_sepconv2_bn", "block14"),
        ("block_12_expand", "block_12"),
        # MobileNetV2's first block has no number; MobileNetV3's blocks do.
        ("expanded_conv_depthwise", "expanded_conv"),
        ("expanded_conv_1_depthwise", "expanded_conv_1"),
        # A number later in the name is not a block number.
        ("expanded_conv_squeeze_excite_conv_1", "expanded_conv"),
        # ResNet's shortcut conv belongs to its bottleneck.
        ("conv2_block1_0_conv", "conv2_block1"),
        ("conv5_block3_preact_bn", "conv5_block3"),
        ("pool3_conv", "pool3"),
        ("convnext_tiny_stage_2_block_8_layernorm", "convnext_tiny_stage_2_block_8"),
        ("convnext_tiny_downsampling_conv_1", "convnext_tiny_downsampling_1"),
        # Stems, top layers and heads are outside any block.
        ("Conv1", None),
        ("Conv_1", None),
        ("conv_1_bn", None),
        ("conv1_conv", None),
        ("stem_conv", None),
        ("top_bn", None),
        ("post_bn", None),
        ("convnext_tiny_stem_conv", None),
        ("head_dense", None),
    ],
)
def test_block_key(layer_name: str, key: str | None) -> None:
    # Block keys come from the architectures' layer-name prefixes.
    assert block_key(layer_name) == key


def test_layers_matching() -> None:
    model = full_model("digits")
    # A shell-style pattern selects weight-bearing layers by name, inside nested models too.
    assert names(layers_matching(model, "block4_*")) == [
        "block4_conv1",
        "block4_bn1",
        "block4_conv2",
        "block4_bn2",
    ]
    # Matching is case-sensitive and a pattern that matches nothing gives [].
    assert layers_matching(model, "BLOCK4_*") == []
    assert layers_matching(model, "nothing*") == []


def test_find_units_rejects_an_unknown_unit_kind() -> None:
    # Only "layer" and "block" are unit kinds.
    with pytest.raises(ValueError, match=r"^unit must be 'layer' or 'block'; got 'blocks'\.$"):
        find_units(backbone("digits"), "blocks")  # type: ignore[arg-type]
