"""Read a PyTorch state_dict from a legacy (non-zip) `.pth` file without torch and without running
pickled code.

The legacy format is five pickles and the raw storages, one after the other: a magic number, the
format version, a system-info dict, the state_dict (tensors refer to their storages by persistent
id), the list of storage keys in file order; then per storage an int64 element count and its bytes.
The pickles are read by an unpickler whose `find_class` only knows the globals a state_dict needs,
each bound to a harmless stand-in defined here: nothing named in the file is ever imported or
called. Storage bytes are read with numpy and checked against the declared sizes before use.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freezesweep.errors import WeightFileError

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001
# torch's legacy storage classes and the little-endian numpy dtype of their bytes.
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_ALLOWED = "collections.OrderedDict, torch._utils._rebuild_tensor_v2, " + ", ".join(
    f"torch.{name}" for name in _STORAGE_DTYPES
)


class _Sealed:
    """A stand-in that pickle's BUILD opcode may not change after it was checked."""

    def __setstate__(self, state: object) -> None:
        raise ValueError("refused: the pickle modifies a stand-in (BUILD)")


@dataclass(frozen=True)
class _StorageType(_Sealed):
    """Stands in for `torch.FloatStorage` & co.: a name and a dtype, never callable."""

    name: str
    dtype: str


@dataclass
class _Storage(_Sealed):
    key: str
    dtype: np.dtype[Any]
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef(_Sealed):
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> _TensorRef:
    """Stands in for `torch._utils._rebuild_tensor_v2`: records where the tensor's values are."""
    if not (
        isinstance(storage, _Storage)
        and _is_int(storage_offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(_is_int(item) for item in size + stride)
    ):
        raise ValueError("a tensor record is malformed")
    if backward_hooks:
        raise ValueError("a tensor carries backward hooks")
    assert isinstance(storage_offset, int)
    return _TensorRef(storage, storage_offset, size, stride)


class _RebuildTensor(_Sealed):
    """`_rebuild_tensor_v2` as an object, so a pickle cannot set attributes of the function."""

    def __call__(self, *arguments: object) -> _TensorRef:
        return _rebuild_tensor_v2(*arguments)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, path: Path, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._path = path
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _RebuildTensor()
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise WeightFileError(
            f"{self._path}: refused: the pickle names the global {module}.{name}, which a "
            f"state_dict never needs (allowed: {_ALLOWED})."
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) in (5, 6)
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and _is_int(pid[4])
            and pid[4] >= 0
            and (len(pid) == 5 or pid[5] is None)
        ):
            raise WeightFileError(
                f"{self._path}: refused: a persistent id that is not a plain tensor storage."
            )
        storage = self._storages.setdefault(
            pid[2], _Storage(pid[2], np.dtype(pid[1].dtype), pid[4])
        )
        if storage.numel != pid[4] or storage.dtype != np.dtype(pid[1].dtype):
            raise WeightFileError(f"{self._path}: storage {pid[2]} is declared twice, differently.")
        return storage


def _unpickle(stream: io.BytesIO, path: Path, storages: dict[str, _Storage]) -> Any:
    try:
        return _RestrictedUnpickler(stream, path, storages).load()
    except WeightFileError:
        raise
    except Exception as error:  # a damaged pickle raises anything from EOFError to TypeError
        raise WeightFileError(
            f"{path}: not a readable PyTorch state_dict ({type(error).__name__}: {error})."
        ) from None


def _read_storages(
    stream: io.BytesIO, path: Path, keys: object, storages: dict[str, _Storage]
) -> None:
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise WeightFileError(f"{path}: the storage key list is malformed.")
    for key in keys:
        storage = storages.get(key)
        if storage is None:
            raise WeightFileError(f"{path}: storage {key} is listed but no tensor uses it.")
        header = stream.read(8)
        expected = storage.numel * storage.dtype.itemsize
        raw = stream.read(expected) if len(header) == 8 else b""
        if len(header) < 8 or len(raw) < expected:
            raise WeightFileError(f"{path}: truncated: storage {key} ends early.")
        if int.from_bytes(header, "little") != storage.numel:
            raise WeightFileError(
                f"{path}: corrupt: storage {key} holds {int.from_bytes(header, 'little')} "
                f"elements, its tensors declare {storage.numel}."
            )
        storage.data = np.frombuffer(raw, dtype=storage.dtype)


def _materialize(path: Path, name: str, ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise WeightFileError(f"{path}: tensor {name}: its storage is missing from the file.")
    if any(item < 0 for item in ref.size + ref.stride) or ref.offset < 0:
        raise WeightFileError(f"{path}: tensor {name}: negative size, stride or offset.")
    last = ref.offset + sum(
        (size - 1) * stride for size, stride in zip(ref.size, ref.stride, strict=True)
    )
    if 0 not in ref.size and last >= data.size:
        raise WeightFileError(
            f"{path}: tensor {name} reaches element {last} of a storage of {data.size}."
        )
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=data.dtype)
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.size,
        strides=tuple(stride * data.itemsize for stride in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=data.dtype.newbyteorder("="))


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format PyTorch state_dict, as numpy arrays, read without torch.

    Args:
        path: the `.pth` file.

    Returns:
        The tensors by name, in the file's order (float32 for float tensors).

    Raises:
        WeightFileError: the file is missing, in the zip format, truncated or corrupt, or its
            pickles name anything but the globals a state_dict needs.
    """
    try:
        stream = io.BytesIO(path.read_bytes())
    except OSError as error:
        raise WeightFileError(f"{path}: cannot read the weight file: {error}.") from None
    if stream.getvalue()[:2] == b"PK":
        raise WeightFileError(
            f"{path}: a zip-format PyTorch file; only the legacy (non-zip) format is read."
        )
    storages: dict[str, _Storage] = {}
    magic = _unpickle(stream, path, storages)
    if magic != _MAGIC:
        raise WeightFileError(f"{path}: not a legacy PyTorch file (wrong magic number).")
    if _unpickle(stream, path, storages) != _PROTOCOL_VERSION:
        raise WeightFileError(f"{path}: unsupported PyTorch file protocol version.")
    system = _unpickle(stream, path, storages)
    if not isinstance(system, dict) or system.get("little_endian") is not True:
        raise WeightFileError(f"{path}: only little-endian PyTorch files are read.")
    state = _unpickle(stream, path, storages)
    if not (
        isinstance(state, dict)
        and all(
            isinstance(key, str) and isinstance(value, _TensorRef) for key, value in state.items()
        )
    ):
        raise WeightFileError(f"{path}: the pickle is not a state_dict of tensors.")
    _read_storages(stream, path, _unpickle(stream, path, storages), storages)
    return {name: _materialize(path, name, ref) for name, ref in state.items()}
