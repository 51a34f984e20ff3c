"""Images/s of the fine-tune stage inside a trial vs a bare `model.fit`, side by side in one run.

For each precision policy, the same backbone (a `keras.applications` architecture, random weights)
and the same data (real digits resized to the backbone's input, RGB) are trained twice for the
same epochs, with a fresh model each time:

- `trial`: `freezesweep.train.run_schedule` with one stage unfreezing the top `--top-k` blocks,
  i.e. plan, apply, fresh optimizer, compile, recompile guard, freeze audit before and after
  (digests of every frozen weight), and `fit` with validation;
- `bare`: the same trainable flags, `model.compile` and `model.fit` with the same validation data.

The trial's time also holds `run_schedule`'s closing `evaluate` on the validation split. Two rates
are printed: over the stage's wall time (compile, tracing and the audit included) and
over the steady epochs (the median epoch after the first). Run it on the machine you care about:

    python benchmarks/finetune_throughput.py                       # CPU defaults
    KERAS_BACKEND=jax python benchmarks/finetune_throughput.py --input-size 224 --images 2048 \\
        --batch-size 64 --precisions off,mixed_float16             # a GPU
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import keras
import numpy as np

from freezesweep import runtime
from freezesweep.data import Dataset, fit_to_input, target_task
from freezesweep.freeze.plan import apply_plan, plan_schedule
from freezesweep.model.backbone import attach_head
from freezesweep.model.keras_app import build_application, preprocessing
from freezesweep.runtime import seed_everything
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.train.schedule import run_schedule


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch (validation included)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def _data(args: argparse.Namespace) -> Dataset:
    per_class = max(1, args.images // 5)
    task = target_task(train_per_class=per_class)
    task = Dataset(
        task.x_train[: args.images],
        task.y_train[: args.images],
        task.x_val[: args.val_images],
        task.y_val[: args.val_images],
        task.num_classes,
    )
    shape = (args.input_size, args.input_size, 3)
    return fit_to_input(task, shape, preprocessing(args.backbone))


def _model(args: argparse.Namespace) -> tuple[keras.Model, keras.Model, Any]:
    seed_everything(0)
    backbone = build_application(
        args.backbone, input_shape=(args.input_size, args.input_size, 3), pooling="avg"
    )
    model = attach_head(backbone, 5)
    stage = StageSpec("finetune", unfreeze=args.top_k, epochs=args.epochs, learning_rate=1e-4)
    [plan] = plan_schedule(model, backbone, ScheduleSpec("bench", "block", "frozen", (stage,)))
    return model, backbone, plan


def measure(args: argparse.Namespace, data: Dataset, path: str) -> tuple[float, float]:
    """(images/s over the stage's wall time, images/s over the median steady epoch)."""
    model, backbone, plan = _model(args)
    timer = EpochTimer()
    started = time.perf_counter()
    if path == "trial":
        run_schedule(
            model,
            backbone,
            [plan],
            data,
            batch_size=args.batch_size,
            verbose=0,
            jit_compile=args.jit_compile,
            callbacks=[timer],
        )
    else:
        apply_plan(model, backbone, plan, "frozen")
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=args.jit_compile,
        )
        model.fit(
            data.x_train,
            data.y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(data.x_val, data.y_val),
            callbacks=[timer],
            verbose=0,
        )
    wall = time.perf_counter() - started
    images = len(data.x_train)
    steady = statistics.median(timer.seconds[1:]) if len(timer.seconds) > 1 else timer.seconds[0]
    return images * args.epochs / wall, images / steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="MobileNetV3Small")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=320, help="training images")
    parser.add_argument("--val-images", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=4, help="top blocks unfrozen")
    parser.add_argument("--precisions", default="off,mixed_bfloat16")
    parser.add_argument("--jit-compile", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="alternating rounds")
    args = parser.parse_args()
    if args.jit_compile in ("true", "false"):
        args.jit_compile = args.jit_compile == "true"
    data = _data(args)
    facts = runtime.describe("off", args.jit_compile)
    print(
        f"backend={facts['backend']} device={facts['device']} keras={facts['keras_version']} "
        f"backbone={args.backbone} input={args.input_size}px images={args.images} "
        f"val={args.val_images} batch={args.batch_size} epochs={args.epochs} top_k={args.top_k} "
        f"jit_compile={args.jit_compile}"
    )
    print(f"{'precision':<15}{'path':<7}{'img/s wall':>12}{'img/s steady':>14}")
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        for policy in args.precisions.split(","):
            for path in ("trial", "bare"):
                with runtime.precision(policy):
                    rates = measure(args, data, path)
                results.setdefault((policy, path), []).append(rates)
                print(f"{policy:<15}{path:<7}{rates[0]:>12.1f}{rates[1]:>14.1f}", flush=True)
    print("trial / bare (median over repeats):")
    for policy in args.precisions.split(","):
        trial = np.median(np.array(results[(policy, "trial")]), axis=0)
        bare = np.median(np.array(results[(policy, "bare")]), axis=0)
        print(f"  {policy:<15} wall {trial[0] / bare[0]:.2f}   steady {trial[1] / bare[1]:.2f}")


if __name__ == "__main__":
    main()
