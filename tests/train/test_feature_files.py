"""Tests for the files of features beyond the memory bound: compact, memory-mapped, damaged entries
removed, read-only and full folders (stage-level behaviour: `test_feature_tier.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from freezesweep.errors import DiskFull
from freezesweep.train.feature_files import Chunks, FeatureFiles, MappedFeatures, Unwritable
from tests.helpers.mounts import tmpfs

SHAPES = {"train": (40, 3, 2), "val": (10, 3, 2)}


def _rows(scale: float = 1.0) -> dict[str, Chunks]:
    def chunks(count: int, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        values = np.random.default_rng(count).normal(size=(count, *shape)).astype("float32")
        for start in range(0, count, 16):  # several chunks, the last one short
            yield scale * values[start : start + 16]

    return {name: (lambda s=shape: chunks(s[0], s[1:])) for name, shape in SHAPES.items()}


def _write(
    folder: Path, key: str = "k", scale: float = 1.0, max_bytes: int = 10**6
) -> MappedFeatures:
    return FeatureFiles(folder, max_bytes).write(key, _rows(scale), SHAPES)


def test_features_are_written_in_float16_and_read_memory_mapped(tmp_path: Path) -> None:
    entry = _write(tmp_path)
    expected = np.concatenate(list(_rows()["train"]()))
    # float16 on disk, opened as a memory map; every value within float16's rounding.
    assert isinstance(entry.train, np.memmap) and entry.train.dtype == np.float16
    np.testing.assert_allclose(entry.train, expected, rtol=2**-11, atol=2**-24)
    # Another process opens the same entry (its digests checked), with the rows asked for.
    again = FeatureFiles(tmp_path, 10**6).open("k", (40, 10))
    assert again is not None and np.array_equal(again.train, entry.train)
    # The wrong number of rows is not this entry.
    assert FeatureFiles(tmp_path, 10**6).open("k", (41, 10)) is None


def test_values_beyond_float16s_range_are_kept_in_float32(tmp_path: Path) -> None:
    # 1e5 times a normal sample exceeds 65504: float16 would turn it into infinity.
    entry = _write(tmp_path, scale=1e5)
    expected = np.concatenate(list(_rows(1e5)["train"]()))
    assert entry.train.dtype == np.float32 and np.array_equal(entry.train, expected)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "no json"])
def test_a_damaged_entry_is_removed_and_reported_missing(tmp_path: Path, damage: str) -> None:
    _write(tmp_path)
    files = FeatureFiles(tmp_path, 10**6)
    train = files.file("k", "train")
    whole = train.read_bytes()
    if damage == "truncated":  # cut mid-write by something other than us
        train.write_bytes(whole[: len(whole) // 2])
    elif damage == "flipped":
        train.write_bytes(whole[:-7] + bytes([whole[-7] ^ 0xFF]) + whole[-6:])
    else:  # killed before the JSON was renamed into place: unfinished
        files.file("k", "json").unlink()
    # Never trusted: missing, so the caller rebuilds it; a damaged entry's files are deleted.
    assert files.open("k", (40, 10)) is None
    if damage != "no json":
        assert not train.exists() and not files.file("k", "json").exists()
    rebuilt = _write(tmp_path)
    assert files.open("k", (40, 10)) is not None and rebuilt.train.dtype == np.float16


def test_a_write_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    def broken() -> Iterator[np.ndarray]:
        yield np.zeros((16, 3, 2), dtype="float32")
        raise RuntimeError("the backbone failed")

    with pytest.raises(RuntimeError):
        FeatureFiles(tmp_path, 10**6).write("k", {"train": broken, "val": broken}, SHAPES)
    # Only the manifest: no partial `.npy` and no JSON that could be taken for an entry.
    assert sorted(path.name for path in tmp_path.iterdir()) == [".freezesweep-entries"]


def test_the_disk_bound_evicts_the_least_recently_used(tmp_path: Path) -> None:
    # An entry is 600 bytes of float16 data, about 1,050 with its headers and JSON: room for two
    # under 1,800 bytes, not three.
    for key in "abc":
        _write(tmp_path, key, max_bytes=1_800)
        if key == "b":
            assert FeatureFiles(tmp_path, 1_800).open("a", (40, 10)) is not None  # "a" used
    assert {key for key in "abc" if FeatureFiles(tmp_path, 1_800).open(key, (40, 10))} == {"a", "c"}
    # An entry larger than the whole bound is refused before anything is written.
    with pytest.raises(Unwritable, match=r"^600 bytes in float16 exceed trainer.feature_disk_gb$"):
        _write(tmp_path / "small", max_bytes=500)


@pytest.mark.parametrize("planted", ["manifest", "folder"])
def test_a_link_for_the_manifest_or_the_folder_is_unwritable(tmp_path: Path, planted: str) -> None:
    # Nothing written through it: the stage trains on features in memory (a warning line).
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("the user's")
    folder = tmp_path / "cache"
    if planted == "manifest":
        folder.mkdir()
        (folder / ".freezesweep-entries").symlink_to(outside / "notes.txt")
    else:
        folder.symlink_to(outside)
    with pytest.raises(Unwritable, match=r"^Too many levels of symbolic links$"):
        _write(folder, "k")
    assert sorted(path.name for path in outside.iterdir()) == ["notes.txt"]
    assert (outside / "notes.txt").read_text() == "the user's"


@pytest.mark.timeout(60)
def test_a_read_only_folder_is_unwritable_and_a_full_one_names_the_cache(tmp_path: Path) -> None:
    with (
        tmpfs(tmp_path / "ro", read_only=True) as folder,
        pytest.raises(Unwritable, match=r"^Read-only file system$"),
    ):
        _write(folder)
    with tmpfs(tmp_path / "full", size="64k", files={"filler": b"\0" * 64 * 1024}) as folder:
        with pytest.raises(DiskFull) as error:
            _write(folder)
        assert str(error.value) == (
            f"disk full writing the feature cache to {folder}/k.mapped.train.npy "
            "(No space left on device)"
        )
        # No partial file left beside the filler (the manifest line did not fit either).
        assert {path.name for path in folder.iterdir()} <= {"filler", ".freezesweep-entries"}
