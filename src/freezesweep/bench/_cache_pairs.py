"""P1 and P2: what the feature cache and prefix reuse save, side by side."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from freezesweep.bench._common import EpochClock, PairResult, compose, sweep, timed


def p1_sweep(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Off / on seconds of the same in-process sweep; each repeat starts from an empty cache."""
    from freezesweep.train.store import clear_shared_stores

    overrides = ["data.train_per_class=5", "schedule.stages.0.epochs=3"] if quick else []
    if quick:
        overrides.append("schedule.stages.1.epochs=2")
    depths = range(5)
    rates = (3e-4, 1e-3) if quick else (1e-4, 3e-4, 1e-3, 3e-3)
    points = [(k, lr) for lr in rates for k in depths][: 3 if quick else 16]
    ratios, best_gap = [], 0.0
    for _ in range(repeats):
        clear_shared_stores()
        off_seconds, off = timed(
            lambda: sweep(config_dir, [*overrides, "trainer.feature_cache=off"], points)
        )
        clear_shared_stores()
        on_seconds, on = timed(lambda: sweep(config_dir, overrides, points))
        ratios.append(off_seconds / on_seconds)
        best_gap = max(best_gap, abs(max(off) - max(on)))
    return PairResult(
        "P1",
        f"sweep of {len(points)} two-stage trials, cache+reuse off/on",
        tuple(ratios),
        f"best val_accuracy off vs on differ by at most {100 * best_gap:.2f} pp",
    )


def head_stage(config_dir: Path, overrides: Sequence[str], schedule: str = "head_only") -> Any:
    """A seeded trial (`freezesweep.prepare.PreparedTrial`), built and planned, not trained."""
    from freezesweep import runtime
    from freezesweep.prepare import prepare_trial
    from freezesweep.spec.read import trial_spec

    spec = trial_spec(compose(config_dir, f"schedule={schedule}", *overrides))
    runtime.seed_everything(spec.seed)
    return prepare_trial(spec)


def run_head(config_dir: Path, overrides: Sequence[str], cache: Any) -> float:
    from freezesweep.train import run_schedule

    trial = head_stage(config_dir, overrides)
    run = functools.partial(
        run_schedule, trial.model, trial.backbone, list(trial.plans), trial.data,
        batch_size=trial.spec.trainer.batch_size, verbose=0, cache=cache,
    )  # fmt: skip
    seconds, _ = timed(run)
    return seconds


# The backbones of P2 and P3 (random weights, as recorded since 2026-12-02) and of their rows
# on real ImageNet weights (EfficientNet-Lite0 from the zoo extra).
P2_BACKBONE = ("MobileNetV3Small", ["backbone=keras_app", "backbone.weights=null"])
P3_BACKBONE = (
    "MobileNetV2",
    ["backbone=keras_app", "backbone.name=MobileNetV2", "backbone.weights=null"],
)
LITE0 = ("EfficientNet-Lite0 (ImageNet)", ["backbone=zoo", "backbone.name=efficientnet_lite0"])


def p2_head_epoch(
    config_dir: Path, quick: bool, repeats: int, network: tuple[str, list[str]] = P2_BACKBONE
) -> PairResult:
    """Uncached / cached seconds of one head-only epoch on `network` (MobileNetV3Small with
    random weights by default), reading a PNG folder of digits; the median epoch after the first
    (which traces the step)."""
    import tempfile

    from freezesweep.train import run_schedule
    from freezesweep.train.store import ArrayStore

    size, epochs, per_class = (32, 3, 5) if quick else (96, 6, 400)
    with tempfile.TemporaryDirectory() as folder:
        overrides = [
            *network[1], f"backbone.input_size={size}", "data=image_folder",
            f"data.directory={write_digit_folder(Path(folder), per_class)}",
            f"schedule.stages.0.epochs={epochs}",
        ]  # fmt: skip

        def epoch_seconds(store: Any) -> float:
            trial = timed(lambda: head_stage(config_dir, overrides))[1]
            clock = EpochClock()
            timed(lambda: run_schedule(
                trial.model, trial.backbone, list(trial.plans), trial.data,
                batch_size=trial.spec.trainer.batch_size, verbose=0, callbacks=[clock], cache=store,
            ))  # fmt: skip
            return statistics.median(clock.seconds[1:])

        store = ArrayStore()
        epoch_seconds(store)  # fills the store: the cached side is all hits
        pairs = [(epoch_seconds(None), epoch_seconds(store)) for _ in range(repeats)]
    uncached = statistics.median(u for u, _ in pairs)
    return PairResult(
        "P2" if network == P2_BACKBONE else "P2-lite0",
        f"head-only epoch, {network[0]} {size} px, a PNG folder of {5 * per_class} digits, "
        "uncached/cached",
        tuple(u / c for u, c in pairs),
        f"median epoch after the first; uncached {uncached:.3f} s",
    )


def write_digit_folder(root: Path, per_class: int) -> Path:
    """`per_class` real digits of each class as grayscale PNG files, one subfolder per class."""
    import tensorflow as tf

    from freezesweep.data import target_task

    task = target_task(train_per_class=per_class)
    for label in range(task.num_classes):
        folder = root / f"digit{label}"
        folder.mkdir(parents=True)
        for index, image in enumerate(task.x_train[task.y_train == label][:per_class]):
            (folder / f"{index}.png").write_bytes(tf.io.encode_png(image.astype("uint8")).numpy())
    return root


def p3_two_stage(
    config_dir: Path, quick: bool, repeats: int, network: tuple[str, list[str]] = P3_BACKBONE
) -> PairResult:
    """Uncached / cached seconds of a two-stage top-2 trial on `network` (MobileNetV2 with
    random weights by default),
    beside the analytic bound: per stage, E epochs cost E(F_below + 3 F_above) uncached and
    F_below + 3 E F_above cached for each training image (validation images: forward only),
    from forward MACs below and above the stage's cut; a backward pass taken as twice a forward."""
    from freezesweep.freeze.plan import apply_plan
    from freezesweep.model.flops import forward_macs
    from freezesweep.train import run_schedule
    from freezesweep.train.feature_cache import split_at_cut
    from freezesweep.train.store import ArrayStore

    size, epochs = (32, 1) if quick else (96, 3)
    overrides = [
        *network[1], f"backbone.input_size={size}", "finetune.top_k=2",
        f"schedule.stages.0.epochs={epochs}", f"schedule.stages.1.epochs={epochs}",
        "data.train_per_class=5" if quick else "data.train_per_class=20",
    ]  # fmt: skip
    prepared = head_stage(config_dir, overrides, "two_stage")
    model, backbone, data, spec = prepared.model, prepared.backbone, prepared.data, prepared.spec
    plans = prepared.plans
    train, val = len(data.x_train), len(data.x_val)
    uncached = cached = 0.0
    for plan in plans:
        apply_plan(model, backbone, plan, spec.schedule.bn)
        split = split_at_cut(model, backbone, plan, spec.schedule.bn, data)
        assert not isinstance(split, str), split
        below, above = forward_macs(split.lower), forward_macs(split.upper)
        assert below > 0 and above > 0, (below, above)
        epochs = plan.stage.epochs
        # Each epoch trains (forward + backward) and validates (forward) every image.
        uncached += epochs * (train * (below + 3 * above) + val * (below + above))
        cached += (train + val) * below + epochs * (train * 3 * above + val * above)
    bound = uncached / cached

    def trial(store: Any) -> float:
        trial = head_stage(config_dir, overrides, "two_stage")
        run = functools.partial(
            run_schedule, trial.model, trial.backbone, list(trial.plans), trial.data,
            batch_size=trial.spec.trainer.batch_size, verbose=0, cache=store, seed=trial.spec.seed,
        )  # fmt: skip
        return timed(run)[0]

    ratios = [trial(None) / trial(ArrayStore()) for _ in range(repeats)]
    share = min(ratios) / bound
    return PairResult(
        "P3" if network == P3_BACKBONE else "P3-lite0",
        f"two-stage top-2 trial, {network[0]} {size} px, {epochs}+{epochs} epochs, "
        "uncached/cached", tuple(ratios),
        f"analytic bound {bound:.2f}x; the slowest repeat reaches {100 * share:.0f} % of it",
    )  # fmt: skip
