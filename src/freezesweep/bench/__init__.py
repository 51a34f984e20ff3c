"""`freezesweep bench`: what the feature cache and the tool cost or save, as side-by-side ratios.

Each pair runs its two sides one after the other, `repeats` times, in one process, and prints the
median ratio with its spread. Nothing here asserts a time: numbers depend on the machine and its
load, so they are printed, and recorded by hand in `docs/benchmarks.md` with the machine described.

- P1: a sweep of in-process trials, feature cache and prefix reuse on vs off (and the best trial).
- P2: a head-only stage on MobileNetV3Small, uncached vs cached (features already in the store).
- P3: a two-stage top-2 trial on MobileNetV2, uncached vs cached, beside the analytic bound.
- P4: a head-only stage through `run_schedule` vs the same `compile` + `fit` in bare Keras.
- P5: Hydra, Optuna and MLflow's time per trial in a real `python sweep.py -m` vs the
  trials' training time.
- P6: resident memory after 20 in-process trials vs after 2.
- P6-long: resident memory after 500 in-process simulated trials (asked from one study, run
  by `run_trial`, told; MLflow tracked) vs after 20 (`--only`).
- P10: 16 simulated workers on one PostgreSQL study vs one worker, trials per minute, checked
  exactly once in the study and in MLflow; P10-journal on a journal file (`--only`).
- P2-lite0, P3-lite0: P2 and P3 on EfficientNet-Lite0's real ImageNet weights (`--only`).
- P8: a head-only epoch on features 4x the memory bound, cached on disk vs uncached (and the
  same cached epoch in memory, float16's error on the features); P8-lite0 on EfficientNet-Lite0.
- P9: a simulated 5,100-trial sweep (no training): the framework's time per trial at trials
  5,000-5,100 / at 100-200, the sampler's own time apart, and the report, the parent run's
  summary and optuna-dashboard's read at the end; P9-postgres on PostgreSQL (`--only`).
- P7: the default sweep's compute to the answer against the baselines, replayed on every
  recorded task table (`benchmarks/tables/`; see `freezesweep replay`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from freezesweep.bench._cache_pairs import LITE0, p1_sweep, p2_head_epoch, p3_two_stage
from freezesweep.bench._common import PairResult
from freezesweep.bench._disk_pair import p8_disk_epoch
from freezesweep.bench._long_memory import p6_long_memory
from freezesweep.bench._many_trials import p9_many_trials
from freezesweep.bench._many_workers import p10_many_workers
from freezesweep.bench._overhead_pairs import p4_bare_keras, p5_framework, p6_memory, resident_bytes
from freezesweep.bench._replay_pair import p7_time_to_answer

__all__ = ["PAIRS", "PairResult", "resident_bytes", "run_bench"]

PAIRS: dict[str, Callable[[Path, bool, int], PairResult]] = {
    "P1": p1_sweep,
    "P2": p2_head_epoch,
    "P3": p3_two_stage,
    "P4": p4_bare_keras,
    "P5": p5_framework,
    "P6": p6_memory,
    "P6-long": p6_long_memory,
    "P7": p7_time_to_answer,
    "P8": p8_disk_epoch,
    "P9": p9_many_trials,
    # P9 on PostgreSQL: a fresh database on $FREEZESWEEP_BENCH_POSTGRES_URL's server (`--only`).
    "P9-postgres": functools.partial(p9_many_trials, storage="postgres"),
    # On a PostgreSQL study (a fresh database on $FREEZESWEEP_BENCH_POSTGRES_URL's server) and
    # on a journal file: minutes each, not in the default run (`--only`).
    "P10": p10_many_workers,
    "P10-journal": functools.partial(p10_many_workers, storage="journal"),
    # P2 and P3 on real ImageNet weights (the zoo extra); not in the default run: `--only`.
    "P2-lite0": functools.partial(p2_head_epoch, network=LITE0),
    "P3-lite0": functools.partial(p3_two_stage, network=LITE0),
    "P8-lite0": functools.partial(p8_disk_epoch, network=LITE0),
}
# What `freezesweep bench` runs without `--only`.
DEFAULT_PAIRS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")


def run_bench(
    config_dir: Path, *, quick: bool = False, repeats: int = 3, only: Sequence[str] = ()
) -> list[PairResult]:
    """Run the pairs (all, or `only`) and print one line per pair as it finishes.

    Args:
        config_dir: the project's Hydra config folder.
        quick: shrunken pairs, once each: what CI runs to prove they still work, not a
            measurement. Defaults to `False`.
        repeats: side-by-side repeats of each pair (at least 3; `quick` runs one).
            Defaults to `3`.
        only: pair names to run, e.g. `("P1",)`. Defaults to `()` (all).
    """
    results = []
    for name, pair in PAIRS.items():
        if name not in (only or DEFAULT_PAIRS):
            continue
        result = pair(config_dir, quick, 1 if quick else repeats)
        print(result.line(), flush=True)
        results.append(result)
    return results
