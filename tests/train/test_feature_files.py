"""Tests for features beyond the memory bound: compact files, memory-mapped reads, damaged entries
rebuilt, read-only and full folders, and parity of a disk-backed stage with the in-memory one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from freezesweep.errors import DiskFull
from freezesweep.runtime import seed_everything
from freezesweep.spec import StageSpec
from freezesweep.train.feature_files import Chunks, FeatureFiles, MappedFeatures, Unwritable
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.helpers.mounts import tmpfs
from tests.train.test_feature_cache import HEAD, TOP_TWO
from tests.train.test_schedule import digits_plans, random_rows

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


def _train(
    cache: ArrayStore | None, scale: float = 1.0, stages: tuple[StageSpec, ...] = (HEAD, TOP_TWO)
) -> ScheduleResult:
    seed_everything(0)
    model, backbone, plans = digits_plans(*stages)
    rows = random_rows(rows=32)
    data = replace(rows, x_train=scale * rows.x_train, x_val=scale * rows.x_val)
    return run_schedule(model, backbone, plans, data, batch_size=8, verbose=0, cache=cache)


def _histories(result: ScheduleResult) -> list[dict[str, list[float]]]:
    return [stage.history for stage in result.stages]


def test_features_over_the_bound_train_from_disk_on_the_same_batches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Images scaled so that the features exceed float16's range: the files keep float32, and
    # the stages must then match the in-memory path bit for bit (the same batches, in order).
    memory = _train(ArrayStore(), scale=1e6)
    with caplog.at_level(logging.INFO, logger="freezesweep.train.stage_fit"):
        disk = _train(ArrayStore(tmp_path, max_bytes=1_000), scale=1e6)
    again = _train(ArrayStore(tmp_path, max_bytes=1_000), scale=1e6)
    # Both stages' features (well over 1,000 bytes) went to disk, then were read back from it.
    assert [stage.feature_cache for stage in disk.stages] == ["miss", "miss"]
    assert [stage.feature_cache for stage in again.stages] == ["hit", "hit"]
    assert len(list(tmp_path.glob("*.mapped.json"))) == 2
    # The log names the tier, the dtype, the bytes and the bound.
    assert caplog.messages[0] == (
        "feature cache for stage 'head': miss (cut at the output of digits_backbone; "
        "disk, float32, 147456 bytes, bound 1000 bytes)"
    )
    assert _histories(disk) == _histories(memory) == _histories(again)


def test_float16_features_train_within_their_rounding(tmp_path: Path) -> None:
    memory = _train(ArrayStore(), stages=(HEAD,))
    disk = _train(ArrayStore(tmp_path, max_bytes=1_000), stages=(HEAD,))
    assert next(tmp_path.glob("*.mapped.train.npy")).stat().st_size < 147456 / 2 + 200
    # A head-only stage on float16 features: each epoch's losses within 1e-4 of the float32
    # features' (measured: 1e-5), the same accuracies.
    for name, values in _histories(disk)[0].items():
        tolerance = 1e-4 if "loss" in name else 0.0
        np.testing.assert_allclose(values, _histories(memory)[0][name], rtol=0, atol=tolerance)


def test_a_truncated_entry_is_rebuilt_by_the_next_stage(tmp_path: Path) -> None:
    first = _train(ArrayStore(tmp_path, max_bytes=1_000))
    for path in tmp_path.glob("*.mapped.train.npy"):
        path.write_bytes(path.read_bytes()[:200])
    rebuilt = _train(ArrayStore(tmp_path, max_bytes=1_000))
    # Not trusted: computed again (misses), with the same numbers, and whole on disk again.
    assert [stage.feature_cache for stage in rebuilt.stages] == ["miss", "miss"]
    assert _histories(rebuilt) == _histories(first)
    assert all(path.stat().st_size > 200 for path in tmp_path.glob("*.mapped.train.npy"))


@pytest.mark.timeout(120)
def test_a_read_only_cache_folder_computes_in_memory_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = _train(ArrayStore())
    with (
        tmpfs(tmp_path / "cache", read_only=True) as folder,
        caplog.at_level(logging.WARNING, logger="freezesweep.train.feature_cache"),
    ):
        result = _train(ArrayStore(folder, max_bytes=1_000))
    # One line per stage, then the in-memory features: the numbers of the in-memory path exactly.
    assert caplog.messages[0] == (
        f"feature cache: cannot keep 147456 bytes of features in {folder} (Read-only file "
        "system); computed in memory for this stage instead"
    )
    assert _histories(result) == _histories(memory)
