"""Tests for where a cut's features live: memory, disk (memory-mapped) or nowhere (uncached), with
the bound of memory `trainer.feature_cache_gb` or half the memory available; parity of a
disk-backed stage with the in-memory one; damaged, read-only and full cache folders."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from freezesweep.errors import DiskFull
from freezesweep.runtime import seed_everything
from freezesweep.spec import StageSpec
from freezesweep.train.schedule import ScheduleResult, run_schedule
from freezesweep.train.store import ArrayStore
from tests.helpers.mounts import tmpfs
from tests.test_free_memory import fake_available
from tests.train.test_feature_cache import HEAD, TOP_TWO
from tests.train.test_schedule import digits_plans, random_rows

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run

# The features of 32 + 32 rows at the digits backbone's output, in float32.
FEATURE_BYTES = 147456
# Float16 files on TensorFlow only: Keras's array adapter on JAX and torch would cast them whole.
TENSORFLOW = keras.backend.backend() == "tensorflow"
FLOAT32_NOTE = "" if TENSORFLOW else " (float16 files only on TensorFlow)"
STAGE_LOG = "freezesweep.train.stage_fit"


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
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        disk = _train(ArrayStore(tmp_path, max_bytes=1_000), scale=1e6)
    again = _train(ArrayStore(tmp_path, max_bytes=1_000), scale=1e6)
    # Both stages' features (well over 1,000 bytes) went to disk, then were read back from it.
    assert [stage.feature_cache for stage in disk.stages] == ["miss", "miss"]
    assert [stage.feature_cache for stage in again.stages] == ["hit", "hit"]
    assert len(list(tmp_path.glob("*.mapped.json"))) == 2
    # The log names the tier, the dtype, the bytes and the bound with where it comes from.
    assert caplog.messages[0] == (
        "feature cache for stage 'head': miss (cut at the output of digits_backbone; "
        f"disk, float32{FLOAT32_NOTE}, {FEATURE_BYTES} bytes, "
        "bound 1000 bytes = trainer.feature_cache_gb)"
    )
    assert _histories(disk) == _histories(memory) == _histories(again)


def test_float16_features_train_within_their_rounding(tmp_path: Path) -> None:
    memory = _train(ArrayStore(), stages=(HEAD,))
    disk = _train(ArrayStore(tmp_path, max_bytes=1_000), stages=(HEAD,))
    size = next(tmp_path.glob("*.mapped.train.npy")).stat().st_size
    if not TENSORFLOW:  # float32 files: exactly the in-memory numbers
        assert size > FEATURE_BYTES / 2
        assert _histories(disk) == _histories(memory)
        return
    assert size < FEATURE_BYTES / 2 / 2 + 200  # the train split's half, in float16
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
        caplog.at_level(logging.WARNING, logger="freezesweep.train.feature_tier"),
    ):
        result = _train(ArrayStore(folder, max_bytes=1_000))
    # One line per stage, then the in-memory features: the numbers of the in-memory path exactly.
    assert caplog.messages[0] == (
        f"feature cache: cannot keep 147456 bytes of features in {folder} (Read-only file "
        "system); computed in memory for this stage instead"
    )
    assert _histories(result) == _histories(memory)


@pytest.mark.timeout(120)
def test_a_full_cache_folder_fails_the_stage_in_one_line_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "full", size="64k", files={"filler": b"\0" * 64 * 1024}) as folder:
        with pytest.raises(DiskFull) as error:
            _train(ArrayStore(folder, max_bytes=1_000))
        # The trial's reason, one line naming the file (a sweep records it on the FAIL trial).
        assert re.fullmatch(
            rf"disk full writing the feature cache to {folder}/features-[0-9a-f]{{32}}"
            r"\.mapped\.train\.npy \(No space left on device\)",
            str(error.value),
        )
        assert {path.name for path in folder.iterdir()} <= {"filler", ".freezesweep-entries"}


def test_features_over_half_the_free_memory_go_to_disk_whatever_the_configured_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = _train(ArrayStore(), scale=1e6)
    # 200 KiB available: half of it is below the features' 147,456 bytes, far below 1 GB.
    fake_available(monkeypatch, tmp_path, 200)
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        disk = _train(ArrayStore(tmp_path / "cache", max_bytes=10**9), scale=1e6)
    assert caplog.messages[0] == (
        "feature cache for stage 'head': miss (cut at the output of digits_backbone; "
        f"disk, float32{FLOAT32_NOTE}, {FEATURE_BYTES} bytes, "
        "bound 102400 bytes = half the 204800 bytes of memory available)"
    )
    assert len(list((tmp_path / "cache").glob("*.mapped.json"))) == 2
    assert _histories(disk) == _histories(memory)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("folder", ["none", "read-only", "over feature_disk_gb"])
def test_features_too_large_for_memory_and_the_folder_run_the_stage_uncached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    uncached = _train(None)
    fake_available(monkeypatch, tmp_path, 200)
    bound = "bound 102400 bytes = half the 204800 bytes of memory available"
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        if folder == "none":
            result = _train(ArrayStore(max_bytes=10**9))
            why = "no cache folder: a run outside a sweep keeps features in memory only"
        elif folder == "read-only":
            with tmpfs(tmp_path / "ro", read_only=True) as mount:
                result = _train(ArrayStore(mount, max_bytes=10**9))
            why = f"the cache folder {mount} cannot take them (Read-only file system)"
        else:
            result = _train(ArrayStore(tmp_path / "cache", max_bytes=10**9, disk_bytes=1000))
            dtype, size = ("float16", 73728) if TENSORFLOW else ("float32", FEATURE_BYTES)
            why = (
                f"the cache folder {tmp_path / 'cache'} cannot take them "
                f"({size} bytes in {dtype} exceed trainer.feature_disk_gb)"
            )
    # Never computed (they would not fit): the stages run the full model, and say why.
    # (The second stage's cut is lower, its features larger: 401,408 bytes.)
    status = f"off: {FEATURE_BYTES} bytes of features exceed the {bound}, and {why}"
    head, top_two = (stage.feature_cache for stage in result.stages)
    assert head == status
    assert top_two.startswith(f"off: 401408 bytes of features exceed the {bound}, and ")
    assert caplog.messages[0] == f"feature cache for stage 'head': {status}"
    assert _histories(result) == _histories(uncached)
