"""`freezesweep bench`: what the feature cache and the tool cost or save, as side-by-side ratios.

Each pair runs its two sides one after the other, `repeats` times, in one process, and prints the
median ratio with its spread. Nothing here asserts a time: numbers depend on the machine and its
load, so they are printed, and recorded by hand in `docs/benchmarks.md` with the machine described.

- P1: a sweep of in-process trials, feature cache and prefix reuse on vs off (and the best trial).
- P2: a head-only stage on MobileNetV3Small, uncached vs cached (features already in the store).
- P4: a head-only stage through `run_schedule` vs the same `compile` + `fit` in bare Keras.
- P5: trials of a real `python sweep.py -m` (Hydra, Optuna, MLflow) vs the same trials run bare.
- P6: resident memory after 20 in-process trials vs after 2.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


@dataclass(frozen=True)
class PairResult:
    """One pair's ratios (`baseline / candidate` seconds, or bytes for memory) over repeats."""

    name: str
    description: str
    ratios: tuple[float, ...]
    note: str = ""

    def line(self) -> str:
        """`P1 ...: median 3.10x (2.90x-3.30x over 3 repeats)`, then the note."""
        median = statistics.median(self.ratios)
        spread = f"{min(self.ratios):.2f}x-{max(self.ratios):.2f}x over {len(self.ratios)} repeats"
        note = f"; {self.note}" if self.note else ""
        return f"{self.name} {self.description}: median {median:.2f}x ({spread}){note}"


def compose(config_dir: Path, *overrides: str) -> DictConfig:
    """The project's config with overrides, untracked and quiet."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        return hydra_compose(
            "config", overrides=["tracking.enabled=false", "trainer.verbose=0", *overrides]
        )


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # trial summaries would drown the report
        value = function()
    return time.perf_counter() - started, value


def _sweep(config_dir: Path, overrides: Sequence[str], points: Sequence[tuple[int, float]]) -> Any:
    from freezesweep.trial import run_trial

    return [
        run_trial(compose(config_dir, *overrides, f"finetune.top_k={k}", f"finetune.lr={lr}"))
        for k, lr in points
    ]


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
        off_seconds, off = _timed(
            lambda: _sweep(config_dir, [*overrides, "trainer.feature_cache=off"], points)
        )
        clear_shared_stores()
        on_seconds, on = _timed(lambda: _sweep(config_dir, overrides, points))
        ratios.append(off_seconds / on_seconds)
        best_gap = max(best_gap, abs(max(off) - max(on)))
    return PairResult(
        "P1",
        f"sweep of {len(points)} two-stage trials, cache+reuse off/on",
        tuple(ratios),
        f"best val_accuracy off vs on differ by at most {100 * best_gap:.2f} pp",
    )


def _head_stage(config_dir: Path, overrides: Sequence[str]) -> Any:
    from freezesweep import runtime
    from freezesweep.freeze import plan_schedule
    from freezesweep.model.assemble import build_backbone, build_model, load_data
    from freezesweep.spec.read import trial_spec

    spec = trial_spec(compose(config_dir, "schedule=head_only", *overrides))
    runtime.seed_everything(spec.seed)
    backbone, preprocess = build_backbone(spec)
    data = load_data(spec, tuple(backbone.input_shape[1:]), preprocess)
    model = build_model(spec, backbone, data.num_classes)
    return model, backbone, plan_schedule(model, backbone, spec.schedule), data, spec


def _run_head(config_dir: Path, overrides: Sequence[str], cache: Any) -> float:
    from freezesweep.train import run_schedule

    model, backbone, plans, data, spec = _head_stage(config_dir, overrides)
    seconds, _ = _timed(
        lambda: run_schedule(
            model, backbone, plans, data, batch_size=spec.trainer.batch_size, verbose=0, cache=cache
        )
    )
    return seconds


def p2_head_epoch(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Uncached / cached seconds of a head-only stage on MobileNetV3Small (random weights)."""
    from freezesweep.train.store import ArrayStore

    size = 32 if quick else 96
    epochs = 2 if quick else 5
    overrides = [
        "backbone=keras_app",
        "backbone.weights=null",
        f"backbone.input_size={size}",
        f"schedule.stages.0.epochs={epochs}",
        "data.train_per_class=5" if quick else "data.train_per_class=10",
    ]
    store = ArrayStore()
    _run_head(config_dir, overrides, store)  # fills the store: the cached side is all hits
    ratios = []
    for _ in range(repeats):
        uncached = _run_head(config_dir, overrides, None)
        cached = _run_head(config_dir, overrides, store)
        ratios.append(uncached / cached)
    return PairResult(
        "P2",
        f"head-only stage, MobileNetV3Small {size} px, {epochs} epochs, uncached/cached",
        tuple(ratios),
        "includes each side's compile",
    )


def p4_bare_keras(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """freezesweep / bare Keras seconds of the same head-only stage on the digits backbone."""
    import keras

    epochs = 1 if quick else 10
    overrides = [f"schedule.stages.0.epochs={epochs}", "trainer.feature_cache=off"]
    if quick:
        overrides.append("data.train_per_class=5")

    def bare() -> float:
        model, _, plans, data, spec = _head_stage(config_dir, overrides)
        model.get_layer(index=1).trainable = False

        def fit() -> Any:
            model.compile(
                optimizer=keras.optimizers.Adam(plans[0].stage.learning_rate),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                metrics=["accuracy"],
            )
            history = model.fit(
                data.x_train,
                data.y_train,
                batch_size=spec.trainer.batch_size,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs,
                shuffle=True,
                verbose=0,
            )
            # As freezesweep does: the last epoch already validated the final weights.
            return history.history["val_accuracy"][-1]

        return _timed(fit)[0]

    ratios = []
    for _ in range(repeats):
        tool = _run_head(config_dir, overrides, None)
        ratios.append(tool / bare())
    return PairResult(
        "P4", f"head-only digits stage, {epochs} epochs, freezesweep/bare Keras", tuple(ratios)
    )


def p5_framework(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Seconds from the end of a real sweep's first trial to the end of its last (Hydra jobs,
    Optuna, MLflow, the report hooks between trials) / the same trials, after the first, run
    through `run_trial` untracked (warmed by the first): both sides exclude start-up."""
    import optuna

    n = 3 if quick else 7
    small = ["data.train_per_class=5", "schedule.stages.0.epochs=1", "schedule.stages.1.epochs=1"]
    shape = [*(small if quick else []), "trainer.feature_cache=off"]
    ratios, extra = [], []
    for _ in range(1 if quick else repeats):
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run(
                [sys.executable, str(config_dir.resolve().parent / "sweep.py"), "-m", *shape,
                 f"hydra.sweeper.n_trials={n}", "hydra.sweeper.study_name=p5",
                 f"hydra.sweeper.storage=sqlite:///{folder}/optuna.db",
                 f"tracking.default_uri=sqlite:///{folder}/mlflow.db"],
                cwd=folder, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"P5's sweep failed: {done.stderr[-2000:]}")
            study = optuna.load_study(study_name="p5", storage=f"sqlite:///{folder}/optuna.db")
            finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        ends = sorted(t.datetime_complete for t in finished if t.datetime_complete is not None)
        swept = (ends[-1] - ends[0]).total_seconds()
        points = [[f"{key}={value}" for key, value in t.params.items()] for t in finished]
        _bare_trials(config_dir, shape, points[:1])  # warm, as the sweep is after its first
        bare, _ = _timed(functools.partial(_bare_trials, config_dir, shape, points[1:]))
        ratios.append(swept / bare)
        extra.append((swept - bare) / (len(points) - 1))
    return PairResult(
        "P5", f"{n - 1} trials in a real sweep / the same trials bare (cache off)", tuple(ratios),
        f"the sweep adds {statistics.median(extra):.2f} s per trial",
    )  # fmt: skip


def _bare_trials(config_dir: Path, shape: Sequence[str], points: list[list[str]]) -> None:
    from freezesweep.trial import run_trial

    for point in points:
        run_trial(compose(config_dir, *shape, *point))


def resident_bytes() -> int:
    """This process's resident memory now (Linux `/proc/self/statm`), in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def p6_memory(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Resident memory after 20 tiny in-process trials / after 2 (one measurement per repeat)."""
    from freezesweep.trial import run_trial

    overrides = ["data.train_per_class=2", "schedule.stages.0.epochs=1"]
    overrides.append("schedule.stages.1.epochs=1")
    ratios = []
    for _ in range(1 if quick else repeats):
        after: dict[int, int] = {}
        for trial in range(1, 21):
            cfg = compose(config_dir, *overrides, f"finetune.top_k={trial % 5}", f"seed={trial}")
            _timed(functools.partial(run_trial, cfg))
            after[trial] = resident_bytes()
        ratios.append(after[20] / after[2])
    return PairResult("P6", "resident memory after 20 / after 2 in-process trials", tuple(ratios))


PAIRS: dict[str, Callable[[Path, bool, int], PairResult]] = {
    "P1": p1_sweep,
    "P2": p2_head_epoch,
    "P4": p4_bare_keras,
    "P5": p5_framework,
    "P6": p6_memory,
}


def run_bench(
    config_dir: Path, *, quick: bool = False, repeats: int = 3, only: Sequence[str] = ()
) -> list[PairResult]:
    """Run the pairs (all, or `only`) and print one line per pair as it finishes.

    Args:
        config_dir: the project's Hydra config folder. No default.
        quick: shrunken pairs (what CI runs). Defaults to `False`.
        repeats: side-by-side repeats of each pair (at least 3). Defaults to `3`.
        only: pair names to run, e.g. `("P1",)`. Defaults to `()` (all).
    """
    results = []
    for name, pair in PAIRS.items():
        if only and name not in only:
            continue
        result = pair(config_dir, quick, repeats)
        print(result.line(), flush=True)
        results.append(result)
    return results
