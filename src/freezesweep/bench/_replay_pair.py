"""P7: the compute the default sweep needs to reach the answer, against the baselines, replayed
on every recorded task table (`benchmarks/tables/*.csv`): no training, so seconds to run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from freezesweep.bench._common import PairResult

# What the default is compared with, and the target ratio (baseline / default) for each.
TARGETS = {"tpe_median": 3.0, "tpe": 5.0, "random": 1.0}


def tables_folder(config_dir: Path) -> Path:
    """`benchmarks/tables/` beside the project's `conf/`."""
    return config_dir.absolute().parent / "benchmarks" / "tables"


def p7_time_to_answer(config_dir: Path, quick: bool, repeats: int) -> PairResult:
    """tpe_median / default compute to within 0.5 pp of each table's best (median over seeds).

    Prints each table's full comparison (every baseline) before the pair's line. `quick`
    replays 3 seeds instead of 20 (what CI runs to prove the replay still works).
    """
    from freezesweep.replay.report import result_lines
    from freezesweep.replay.run import replay_strategies
    from freezesweep.replay.table import read_table
    from hydra_plugins.freezesweep_sweeper.replay._strategy import BASELINES, DEFAULT

    tables = sorted(tables_folder(config_dir).glob("*.csv"))
    if not tables:
        return PairResult("P7", "no table in benchmarks/tables/", (float("nan"),))
    # Every baseline (GP only where torch is installed), the default first.
    names = [DEFAULT, *(name for name in BASELINES if name != DEFAULT)]
    if importlib.util.find_spec("torch") is None:
        names.remove("gp")
    strategies = {name: BASELINES[name] for name in names}
    ratios, notes = [], []
    for path in tables:
        result = replay_strategies(
            read_table(path), strategies, config_dir, seeds=3 if quick else 20, default=DEFAULT
        )
        print(f"{path.stem}: " + "\n".join(result_lines(result.summary)), flush=True)
        rows = result.summary["strategies"]
        default = rows[DEFAULT]["to_answer_s"]["median"]
        shown = []
        for name in TARGETS:
            theirs = rows[name]["to_answer_s"]["median"]
            ratio = (
                float("inf") if theirs is None else theirs / default if default else float("nan")
            )
            shown.append(f"{name}/default {ratio:.2f}x")
            if name == "tpe_median":
                ratios.append(ratio)
        notes.append(f"{path.stem}: {', '.join(shown)}")
    return PairResult(
        "P7",
        f"compute to the answer, tpe_median / {DEFAULT} over {len(tables)} tables",
        tuple(ratios),
        note="; ".join(notes),
    )


def _ratio(theirs: float | None, default: float | None) -> float:
    """`theirs / default`: `inf` when they never reached the answer, `nan` when the default did
    not."""
    if default is None or default == 0:
        return float("nan")
    return float("inf") if theirs is None else theirs / default
