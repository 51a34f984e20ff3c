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
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from freezesweep import runtime
from freezesweep.bench._common import compose
from freezesweep.data import Dataset
from freezesweep.freeze.plan import apply_plan
from freezesweep.prepare import PreparedTrial, prepare_trial
from freezesweep.runtime import seed_everything
from freezesweep.spec import TrialSpec
from freezesweep.spec.read import trial_spec
from freezesweep.train.schedule import run_schedule

CONF = Path(__file__).resolve().parents[1] / "conf"


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


def _spec(args: argparse.Namespace) -> TrialSpec:
    """The project's config for this run: the backbone with random weights, one stage that
    unfreezes the top `--top-k` blocks at 1e-4, the digits task."""
    overrides = [
        "backbone=keras_app", f"backbone.name={args.backbone}", "backbone.weights=null",
        f"backbone.input_size={args.input_size}",
        f"data.train_per_class={max(1, args.images // 5)}",
        "schedule=head_only", "schedule.stages.0.name=finetune",
        f"schedule.stages.0.unfreeze={args.top_k}", f"schedule.stages.0.epochs={args.epochs}",
        "schedule.stages.0.lr=1e-4",
    ]  # fmt: skip
    return trial_spec(compose(CONF, *overrides), environment={})


def _trial(spec: TrialSpec, args: argparse.Namespace) -> PreparedTrial:
    """A fresh model, built the way a trial builds it, on `--images` / `--val-images` images."""
    seed_everything(spec.seed)
    trial = prepare_trial(spec)
    data = trial.data
    assert isinstance(data, Dataset)
    task = Dataset(
        data.x_train[: args.images],
        data.y_train[: args.images],
        data.x_val[: args.val_images],
        data.y_val[: args.val_images],
        data.num_classes,
    )
    return dataclasses.replace(trial, data=task)


def measure(args: argparse.Namespace, spec: TrialSpec, path: str) -> tuple[float, float]:
    """(images/s over the stage's wall time, images/s over the median steady epoch)."""
    trial = _trial(spec, args)
    model, backbone, [plan], data = trial.model, trial.backbone, trial.plans, trial.data
    assert isinstance(data, Dataset)
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
    spec = _spec(args)
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
                    rates = measure(args, spec, path)
                results.setdefault((policy, path), []).append(rates)
                print(f"{policy:<15}{path:<7}{rates[0]:>12.1f}{rates[1]:>14.1f}", flush=True)
    print("trial / bare (median over repeats):")
    for policy in args.precisions.split(","):
        trial = np.median(np.array(results[(policy, "trial")]), axis=0)
        bare = np.median(np.array(results[(policy, "bare")]), axis=0)
        print(f"  {policy:<15} wall {trial[0] / bare[0]:.2f}   steady {trial[1] / bare[1]:.2f}")


if __name__ == "__main__":
    main()
