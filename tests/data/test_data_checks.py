"""Data that must not train: labels that are not the class ids, pixels that are not pixels, images
too large to decode. Each is refused in one line naming the file, before anything trains or any
run exists; several values of each class fail the same way."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freezesweep.data import load_npz
from freezesweep.data.image_file import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, image_size
from freezesweep.data.image_folder import class_folders
from freezesweep.data.load import check_data
from freezesweep.errors import ConfigError
from freezesweep.spec.read import trial_spec
from freezesweep.trial import run_trial
from tests.data.test_image_folder import folder_overrides, write_png_folder
from tests.helpers.shrink import compose_config


def _npz(path: Path, x_train: np.ndarray, y_train: np.ndarray) -> Path:
    x_val, y_val = x_train[:2], y_train[:2]
    np.savez(path, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    return path


@pytest.mark.parametrize(
    ("labels", "classes", "shown"),
    [
        # A head sized by the largest label: {0, 300000} would train a 300,001-class head.
        ([0, 300000, 0, 300000], 2, "label 300000 above 1 and no label 1"),
        ([0, 7, 7, 0], 2, "label 7 above 1 and no label 1"),
        ([1, 2, 1, 2], 2, "label 2 above 1 and no label 0"),
        ([0, 1, 3, 0], 3, "label 3 above 2 and no label 2"),
        # A label 10 in a 10-class set is named, however many labels come before it.
        ([*range(9), 10], 10, "label 10 above 9 and no label 9"),
        ([0, 2, 4, 6, 8, 10, 12], 7, "labels 8, 10, 12 above 6 and no labels 1, 3, 5"),
        # Many: the first four, the largest (what would size the head) and the count.
        (
            [*range(0, 40, 2)],
            20,
            "labels 20, 22, 24, 26, ..., 38 (10 in all) above 19 and no labels 1, 3, 5, 7, ..., "
            "19 (10 in all)",
        ),
    ],
)
def test_labels_that_are_not_the_class_ids_are_refused_by_name(
    tmp_path: Path, labels: list[int], classes: int, shown: str
) -> None:
    x = np.zeros((len(labels), 28, 28), dtype="float32")
    path = _npz(tmp_path / "data.npz", x, np.array(labels))
    with pytest.raises(ConfigError) as caught:
        load_npz(str(path))
    assert str(caught.value) == (
        f"data.path: y_train must hold the class ids 0..{classes - 1} (its {classes} classes), "
        f"each at least once; got {shown} in {path}. Map them to 0..{classes - 1} first."
    )


def test_validation_labels_training_lacks_are_named_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    x = np.zeros((4, 28, 28), dtype="float32")
    y_val = np.array([0, 1, 5, 6, 7, 8, 9, 300000])
    np.savez(path, x_train=x, y_train=np.array([0, 1, 0, 1]), x_val=x[[0] * 8], y_val=y_val)
    with pytest.raises(ConfigError) as caught:
        load_npz(str(path))
    assert str(caught.value) == (
        "data.path: y_val has label(s) 5, 6, 7, 8, ..., 300000 (6 in all) that y_train lacks in "
        f"{path}; every validation class must be trained on."
    )


@pytest.mark.parametrize(
    ("scale", "shown"),
    [(1e30, "1e+30"), (-1e6, "1e+06"), (65536.0, "6.554e+04"), (np.float32(3.4e38), "3.4e+38")],
)
def test_pixels_beyond_16_bits_are_refused(tmp_path: Path, scale: float, shown: str) -> None:
    x = np.ones((4, 28, 28), dtype="float32") * np.float32(scale)
    path = _npz(tmp_path / "data.npz", x, np.array([0, 1, 0, 1]))
    with pytest.raises(ConfigError) as caught:
        load_npz(str(path))
    assert str(caught.value) == (
        f"data.path: x_train has values of magnitude up to {shown}, beyond 65535 (16-bit "
        f"pixels), in {path}; scale the images to pixels first."
    )


def test_class_ids_in_any_order_and_16_bit_or_standardized_pixels_are_accepted(
    tmp_path: Path,
) -> None:
    x = np.stack([np.full((28, 28), 65535.0), np.full((28, 28), -3.0)] * 2)
    data = load_npz(str(_npz(tmp_path / "data.npz", x, np.array([2, 0, 1, 0]))))
    # Three classes, the labels as they were.
    assert data.num_classes == 3 and data.y_train.tolist() == [2, 0, 1, 0]


def test_bad_labels_fail_a_trial_before_anything_trains_or_is_tracked(tmp_path: Path) -> None:
    x = np.zeros((4, 28, 28), dtype="float32")
    path = _npz(tmp_path / "data.npz", x, np.array([0, 300000, 0, 300000]))
    with pytest.raises(ConfigError, match=r"^data\.path: y_train must hold the class ids 0\.\.1"):
        run_trial(compose_config(tmp_path, "data=npz", f"data.path={path}"))
    assert not (tmp_path / "mlruns").exists()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header says `width` x `height` (its body would take gigabytes decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * min(width, 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(row))


def _gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def _bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def _jpeg_header(width: int, height: int) -> bytes:
    """A real JPEG's segments up to its frame, the frame's size replaced."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


HUGE = [
    ("png", _png_header, 20000, 20000),
    ("png", _png_header, 9460, 9460),  # one row over the bound
    ("gif", _gif_header, 65535, 65535),
    ("bmp", _bmp_header, 10000, -10000),  # a top-down bitmap: negative height
    ("jpg", _jpeg_header, 60000, 60000),
]


@pytest.mark.parametrize(("suffix", "make", "width", "height"), HUGE)
def test_an_image_over_the_pixel_bound_is_refused_before_decoding(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    make: Callable[[int, int], bytes],
    width: int,
    height: int,
) -> None:
    import tensorflow as tf

    folder = write_png_folder(tmp_path / "folder", per_class=1)
    huge = folder / "six" / f"huge.{suffix}"
    huge.write_bytes(make(width, height))

    decode = tf.io.decode_image

    def only_small(data: bytes, **kwargs: object) -> object:
        assert data != huge.read_bytes(), "the huge image was decoded"
        return decode(data, **kwargs)

    # Only the small images are decoded; the huge one is refused from its header.
    monkeypatch.setattr(tf.io, "decode_image", only_small)
    with pytest.raises(ConfigError) as caught:
        class_folders(folder)
    assert str(caught.value) == (
        f"data.directory: {huge} is {width} x {abs(height)} pixels, over the "
        f"{MAX_IMAGE_PIXELS:,} an image may have (Pillow's decompression-bomb bound); it is not "
        "decoded. Shrink it first."
    )


def test_a_file_over_the_byte_bound_is_refused_unread(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "folder", per_class=1)
    huge = folder / "six" / "huge.png"
    with huge.open("wb") as handle:  # sparse: no disk is used
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *folder_overrides(folder)))
    assert str(caught.value) == (
        f"data.directory: {huge} is {MAX_IMAGE_BYTES + 1:,} bytes, over the "
        f"{MAX_IMAGE_BYTES:,} an image may have; it is not read."
    )
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_the_header_size_is_the_decoded_size(tmp_path: Path, image_format: str, mode: str) -> None:
    path = tmp_path / f"image.{image_format.lower()}"
    Image.new(mode, (37, 21)).save(path, image_format)
    # What the header says is what a decoder makes.
    assert image_size(path) == (37, 21)


def test_an_os2_bitmap_header_holds_16_bit_sizes(tmp_path: Path) -> None:
    path = tmp_path / "os2.bmp"
    core = struct.pack("<IHHHH", 12, 300, 200, 1, 24)
    path.write_bytes(b"BM" + struct.pack("<IHHI", 26, 0, 0, 26) + core)
    assert image_size(path) == (300, 200)


def test_a_jpeg_without_a_frame_is_corrupt_not_decoded(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "folder", per_class=1)
    broken = folder / "six" / "frameless.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02")
    with pytest.raises(ConfigError) as caught:
        class_folders(folder)
    assert str(caught.value) == (
        f"data.directory: cannot decode {broken}: the image is truncated or corrupt."
    )


@pytest.mark.parametrize("version", [b"GIF87a", b"GIF89a"])
def test_a_gif_for_a_gray_backbone_is_refused_in_one_line(tmp_path: Path, version: bytes) -> None:
    folder = write_png_folder(tmp_path / "folder", per_class=1)
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, "GIF")
    gif = folder / "six" / "frame.gif"
    gif.write_bytes(version + buffer.getvalue()[6:])
    # TensorFlow decodes a GIF in color only: the embedded backbone reads 1 channel.
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, *folder_overrides(folder)))
    assert str(caught.value) == (
        f"data.directory: {gif} is a GIF, which TensorFlow decodes in color only, and the "
        "backbone reads 1 channel (gray); convert it to PNG first."
    )
    assert not (tmp_path / "mlruns").exists()
    # For a color backbone the same file is fine.
    assert "six" in class_folders(folder, channels=3)


def test_check_data_refuses_what_a_trial_would_refuse_without_building_a_model(
    tmp_path: Path,
) -> None:
    # The sweep's preflight check (`check_data`): the same one line a trial fails with.
    x = np.zeros((4, 28, 28), dtype="float32")
    path = _npz(tmp_path / "data.npz", x, np.array([0, 1, 2, -3]))
    spec = trial_spec(compose_config(tmp_path, "data=npz", f"data.path={path}"), environment={})
    with pytest.raises(ConfigError) as caught:
        check_data(spec, (28, 28, 1))
    assert str(caught.value) == (
        f"data.path: y_train must be a 1-D array of integer class ids >= 0 in {path}."
    )
    # Images that do not fit a fixed-input backbone, as `load_data` says it.
    good = _npz(tmp_path / "good.npz", np.zeros((4, 32, 32), "float32"), np.array([0, 1, 0, 1]))
    spec = trial_spec(compose_config(tmp_path, "data=npz", f"data.path={good}"), environment={})
    with pytest.raises(ConfigError) as caught:
        check_data(spec, (28, 28, 1))
    assert str(caught.value) == "data: images are (32, 32, 1) but the backbone expects (28, 28, 1)."
    # A keras_app backbone resizes the arrays: the same file passes there.
    check_data(
        dataclasses.replace(spec, backbone=dataclasses.replace(spec.backbone, source="keras_app")),
        (28, 28, 1),
    )


def test_check_data_refuses_an_image_folder_with_one_class(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "folder", per_class=1, classes=("five",))
    spec = trial_spec(compose_config(tmp_path, *folder_overrides(folder)), environment={})
    with pytest.raises(ConfigError) as caught:
        check_data(spec, (28, 28, 1))
    assert str(caught.value) == (
        f"data.directory: {folder} needs one subfolder per class and at least 2 classes; "
        "found 1 (five)."
    )
