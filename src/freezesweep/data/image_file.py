"""One image file of an image folder, checked before the training pipeline decodes it.

Its size first, read from the header, so a huge image is refused before decoding: a 20000 x 20000
PNG is a few hundred kilobytes on disk and 1.2 GB once decoded, and decoding it to check it would
be the attack. PNG, GIF and BMP keep their size at a fixed offset; a JPEG keeps it in its
start-of-frame segment, found by walking the segments before it. Then its format, then the whole
body, decoded once with the pipeline's own decoder (a header says nothing of a body cut short).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from freezesweep.errors import ConfigError

# Pillow's decompression-bomb bound (`PIL.Image.MAX_IMAGE_PIXELS`): about 9459 x 9459, 268 MB
# decoded as RGB; an image with more pixels is refused unread.
MAX_IMAGE_PIXELS = 89_478_485
# A file larger than this is refused before it is read (an uncompressed BMP at the pixel bound
# fits under it).
MAX_IMAGE_BYTES = 512 * 2**20
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
_GIF = (b"GIF87a", b"GIF89a")
# JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC, which share the range).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: Path) -> tuple[int, int] | None:
    """`(width, height)` from the header of a PNG, GIF, BMP or JPEG file; `None` when the header
    is cut short or holds no size (the decoder will then call the file corrupt).

    Args:
        path: the image file.
    """
    with path.open("rb") as handle:
        head = handle.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if head.startswith((b"GIF87a", b"GIF89a")) and len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        if head.startswith(b"BM") and len(head) >= 26:
            if struct.unpack("<I", head[14:18])[0] == 12:  # an OS/2 1.x header: 16-bit sizes
                width, height = struct.unpack("<HH", head[18:22])
                return width, height
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)  # a negative height is a top-down bitmap
        if head.startswith(b"\xff\xd8"):
            handle.seek(2)
            return _jpeg_size(handle)
    return None


def _jpeg_size(handle: BinaryIO) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame; its width and height."""
    read, seek = handle.read, handle.seek
    while True:
        marker = read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
            continue
        length_bytes = read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if kind in _SOF:
            frame = read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if kind == 0xDA or length < 2:  # the scan starts before any frame: corrupt
            return None
        seek(length - 2, 1)


def check_image(path: Path, channels: int = 3) -> None:
    """Raises a `ConfigError` naming `path` unless it is a whole PNG, JPEG, GIF or BMP image of
    at most `MAX_IMAGE_PIXELS`, in a file of at most `MAX_IMAGE_BYTES`, that the pipeline can
    read in `channels` channels (TensorFlow decodes a GIF in color only).

    Args:
        path: the image file.
        channels: the channels the pipeline reads it in (the backbone's). Defaults to `3`.
    """
    data, size = _read(path)
    if not data.startswith(_SIGNATURES):
        raise ConfigError(
            f"data.directory: cannot decode {path}: not a PNG, JPEG, GIF or BMP image."
        )
    if size is None:
        raise ConfigError(
            f"data.directory: cannot decode {path}: the image is truncated or corrupt."
        )
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise ConfigError(
            f"data.directory: {path} is {size[0]} x {size[1]} pixels, over the "
            f"{MAX_IMAGE_PIXELS:,} an image may have (Pillow's decompression-bomb bound); "
            "it is not decoded. Shrink it first."
        )
    if channels == 1 and data.startswith(_GIF):
        raise ConfigError(
            f"data.directory: {path} is a GIF, which TensorFlow decodes in color only, and the "
            "backbone reads 1 channel (gray); convert it to PNG first."
        )
    import tensorflow as tf

    try:
        tf.io.decode_image(data, expand_animations=False)
    except tf.errors.OpError:
        raise ConfigError(
            f"data.directory: cannot decode {path}: the image is truncated or corrupt."
        ) from None


def _read(path: Path) -> tuple[bytes, tuple[int, int] | None]:
    """The file's bytes and header size; a link to nothing, a file over `MAX_IMAGE_BYTES` or an
    unreadable one is refused first (the oversized one unread)."""
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"data.directory: {path} is a dangling link.")
    try:
        bytes_on_disk = path.stat().st_size
        if bytes_on_disk > MAX_IMAGE_BYTES:
            raise ConfigError(
                f"data.directory: {path} is {bytes_on_disk:,} bytes, over the "
                f"{MAX_IMAGE_BYTES:,} an image may have; it is not read."
            )
        return path.read_bytes(), image_size(path)
    except OSError as error:
        raise ConfigError(f"data.directory: cannot read {path}: {error.strerror}.") from None
