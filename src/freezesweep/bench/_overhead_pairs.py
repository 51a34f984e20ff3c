"""P4, P5 and P6: what freezesweep, and Hydra, Optuna and MLflow around it, cost per trial."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from freezesweep.bench._cache_pairs import head_stage, run_head
from freezesweep.bench._common import PairResult, compose, timed
from freezesweep.bench._framework_probe import framework_share


def p4_bare_keras(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """freezesweep / bare Keras seconds of the same head-only stage on the digits backbone."""
    import keras

    epochs = 1 if quick else 10
    overrides = [f"schedule.stages.0.epochs={epochs}", "trainer.feature_cache=off"]
    if quick:
        overrides.append("data.train_per_class=5")

    def bare() -> float:
        trial = head_stage(config_dir, overrides)
        model, plans, data, spec = trial.model, trial.plans, trial.data, trial.spec
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

        return timed(fit)[0]

    ratios = []
    for _ in range(repeats):
        tool = run_head(config_dir, overrides, None)
        ratios.append(tool / bare())
    return PairResult(
        "P4", f"head-only digits stage, {epochs} epochs, freezesweep/bare Keras", tuple(ratios)
    )


def p5_framework(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """A real `python sweep.py -m` (cache off), clocked from inside (`_framework_probe`): the
    trials' training time plus the framework's time per trial / their training time, over the
    trials after the first.

    Both sides are measured in the same process over the same seconds, so the machine's speed
    drifting between runs does not enter the ratio.
    """
    n = 3 if quick else 7
    small = ["data.train_per_class=5", "schedule.stages.0.epochs=1", "schedule.stages.1.epochs=1"]
    shape = [*(small if quick else []), "trainer.feature_cache=off"]
    shares = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            clocks = Path(folder) / "clocks.json"
            done = subprocess.run(
                [sys.executable, "-m", "freezesweep.bench._framework_probe", str(clocks),
                 str(config_dir.resolve().parent / "sweep.py"), "-m", *shape,
                 f"hydra.sweeper.n_trials={n}", "hydra.sweeper.study_name=p5",
                 f"hydra.sweeper.storage=sqlite:///{folder}/optuna.db",
                 f"tracking.default_uri=sqlite:///{folder}/mlflow.db"],
                cwd=folder, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"P5's sweep failed: {done.stderr[-2000:]}")
            shares.append(framework_share(json.loads(clocks.read_text())))
    mid = sorted(shares, key=lambda share: share.ratio)[len(shares) // 2]
    return PairResult(
        "P5", f"{n - 1} trials of a real sweep, (training + framework) / training (cache off)",
        tuple(share.ratio for share in shares),
        f"median repeat: the framework adds {mid.framework:.2f} s a trial, "
        f"{100 * (mid.ratio - 1):.1f} % of its {mid.train:.1f} s of training "
        f"({100 * (mid.own_ratio - 1):.1f} % of its {mid.trial:.1f} s with build, data and "
        f"audit): MLflow {mid.mlflow:.2f} s and Optuna {mid.optuna:.2f} s inside the trial, "
        f"{mid.between:.2f} s between trials (the job's config: {mid.compose:.2f} s)",
        digits=3,
    )  # fmt: skip


def resident_bytes() -> int:
    """This process's resident memory now (Linux `/proc/self/statm`), in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def p6_memory(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """Resident memory after 20 tiny in-process trials (6 with `quick`) / after 2."""
    from freezesweep.trial import run_trial

    overrides = ["data.train_per_class=2", "schedule.stages.0.epochs=1"]
    overrides.append("schedule.stages.1.epochs=1")
    last = 6 if quick else 20
    ratios = []
    for _ in range(repeats):
        after: dict[int, int] = {}
        for trial in range(1, last + 1):
            cfg = compose(config_dir, *overrides, f"finetune.top_k={trial % 5}", f"seed={trial}")
            timed(functools.partial(run_trial, cfg))
            after[trial] = resident_bytes()
        ratios.append(after[last] / after[2])
    return PairResult(
        "P6", f"resident memory after {last} / after 2 in-process trials", tuple(ratios)
    )
