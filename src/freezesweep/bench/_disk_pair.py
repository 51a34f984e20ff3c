"""P8: a head-only epoch on features 4x larger than the memory bound, cached on disk vs uncached."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from freezesweep.bench._cache_pairs import P2_BACKBONE, head_stage
from freezesweep.bench._common import EpochClock, PairResult, timed


def p8_disk_epoch(
    config_dir: Path, quick: bool, repeats: int, network: tuple[str, list[str]] = P2_BACKBONE
) -> PairResult:
    """Uncached / disk-cached seconds of one head-only epoch on `network` (MobileNetV3Small with
    random weights by default) over the digits arrays, with `trainer.feature_cache_gb` set to a
    quarter of the features' float32 bytes; the median epoch after the first, as P2. The note
    gives the disk-cached epoch against the same epoch on features in memory, float16's largest
    error on the features against float32, and the largest difference of any epoch's losses."""
    # The images of P2: 2,000 training and 500 validation digits at 96 px (`--quick`: 25 + 25).
    size, epochs, per_class, val = (32, 3, 5, "5") if quick else (96, 6, 400, "null")
    overrides = [
        *network[1], f"backbone.input_size={size}", f"data.train_per_class={per_class}",
        f"data.val_per_class={val}", f"schedule.stages.0.epochs={epochs}",
    ]  # fmt: skip
    probe = head_stage(config_dir, overrides)
    train, rows = len(probe.data.x_train), len(probe.data.x_train) + len(probe.data.x_val)
    features = rows * int(np.prod(probe.backbone.output.shape[1:])) * 4
    overrides.append(f"trainer.feature_cache_gb={features / 4 / 10**9!r}")
    with tempfile.TemporaryDirectory() as folder:
        spec = head_stage(config_dir, overrides).spec
        bound = int(spec.trainer.feature_cache_gb * 10**9)
        disk = _store(Path(folder), bound, int(spec.trainer.feature_disk_gb * 10**9))
        memory = _store(None, 2 * features, 0)
        _, on_disk = _epochs(config_dir, overrides, disk)  # writes the files: all hits after
        _, in_memory = _epochs(config_dir, overrides, memory)
        pairs = [
            (_epochs(config_dir, overrides, None)[0], _epochs(config_dir, overrides, disk)[0])
            for _ in range(repeats)
        ]
        memory_seconds = _epochs(config_dir, overrides, memory)[0]
        error = _float16_error(Path(folder), memory)
    uncached, cached = (statistics.median(side) for side in zip(*pairs, strict=True))
    losses = max(
        float(np.max(np.abs(np.subtract(on_disk[name], in_memory[name]))))
        for name in ("loss", "val_loss")
    )
    return PairResult(
        "P8" if network == P2_BACKBONE else "P8-lite0",
        f"head-only epoch, {network[0]} {size} px, {train}+{rows - train} digits, features "
        f"{features} bytes (float32) against a bound of {bound}, uncached/cached on disk",
        tuple(u / c for u, c in pairs),
        f"median epoch after the first; uncached {uncached:.3f} s, on disk {cached:.3f} s, in "
        f"memory {memory_seconds:.3f} s; {error}; losses differ from the in-memory run's by at "
        f"most {losses:.1e}",
    )


def _store(folder: Path | None, max_bytes: int, disk_bytes: int) -> Any:
    from freezesweep.train.store import ArrayStore

    return ArrayStore(folder, max_bytes, disk_bytes)


def _epochs(config_dir: Path, overrides: list[str], store: Any) -> tuple[float, dict[str, Any]]:
    """The median epoch after the first, and the stage's history."""
    from freezesweep.train import run_schedule

    trial = head_stage(config_dir, overrides)
    clock = EpochClock()
    _, result = timed(lambda: run_schedule(
        trial.model, trial.backbone, list(trial.plans), trial.data,
        batch_size=trial.spec.trainer.batch_size, verbose=0, callbacks=[clock], cache=store,
    ))  # fmt: skip
    return statistics.median(clock.seconds[1:]), result.stages[0].history


def _float16_error(folder: Path, memory: Any) -> str:
    """The files' dtype and their largest error against the float32 features in memory."""
    (train,) = folder.glob("*.mapped.train.npy")
    on_disk = np.load(train, mmap_mode="r")
    exact = memory.get(train.name.split(".")[0])["train"]
    error = np.abs(on_disk.astype(np.float32) - exact)
    relative = error / np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
    large = np.abs(exact) >= 2**-14  # float16's normal range; below it the error is absolute
    return (
        f"{on_disk.dtype.name} files: largest error {error.max():.1e} "
        f"({relative[large].max() if large.any() else 0.0:.1e} relative where |x| >= 2^-14)"
    )
