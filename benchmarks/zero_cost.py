r"""Zero-cost depth scores (LogME) of the real tasks, ranked against their recorded grids.

For each task (`conf/experiment/<task>.yaml`, with its table `benchmarks/tables/<task>.csv`) it
builds the trial as a sweep would, scores every depth of the table on the frozen features at its
cut (`freezesweep.train.transferability.depth_scores`), and compares the scores with the grid's
best val_accuracy per depth (over the LRs; `unfreeze` only): Kendall's tau-b, and whether the
best-scoring depths hold the grid's answer. Writes `benchmarks/scores/<task>.csv`
(depth, score, best val_accuracy) and prints a Markdown table.

    python benchmarks/zero_cost.py t1_lite0_animals t2_lite0_digits t3_digits_animals \
        t4_digits_corrupted
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from scipy.stats import kendalltau

from freezesweep import runtime
from freezesweep.data import Dataset
from freezesweep.prepare import prepare_trial
from freezesweep.replay.table import read_table
from freezesweep.spec.read import trial_spec
from freezesweep.train.transferability import depth_scores

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "benchmarks" / "tables"
# Beside the tables, not among them: `freezesweep bench --only P7` replays every tables/*.csv.
SCORES = ROOT / "benchmarks" / "scores"
DEPTH, METHOD = "finetune.top_k", "finetune.method"


def best_per_depth(task: str) -> dict[int, float]:
    """The grid's best val_accuracy of each depth over its LRs (`unfreeze` points only)."""
    best: dict[int, float] = {}
    for point in read_table(TABLES / f"{task}.csv").points:
        if point.state != "COMPLETE" or point.params.get(METHOD, "unfreeze") != "unfreeze":
            continue
        depth = int(point.params[DEPTH])
        best[depth] = max(best.get(depth, 0.0), point.value)
    return best


def score_task(task: str) -> tuple[dict[int, float], float]:
    """Each depth's LogME on the task's training data, and the seconds it took (build excluded)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        spec = trial_spec(compose("config", overrides=[f"experiment={task}"]), environment={})
    runtime.seed_everything(spec.seed)
    trial = prepare_trial(spec)
    depths = sorted(best_per_depth(task))
    assert isinstance(trial.data, Dataset), "the tasks' data are arrays"
    started = time.perf_counter()
    scores = depth_scores(trial.model, trial.backbone, trial.data, depths, spec.schedule.unit)
    return scores, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    arguments = parser.parse_args()
    print("| task | depths | Kendall tau | best-scoring depth | grid's best depth | seconds |")
    print("|---|---|---|---|---|---|")
    for task in arguments.tasks:
        accuracy = best_per_depth(task)
        scores, seconds = score_task(task)
        depths = sorted(scores)
        tau = kendalltau([scores[d] for d in depths], [accuracy[d] for d in depths]).statistic
        SCORES.mkdir(exist_ok=True)
        with open(SCORES / f"{task}.csv", "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["depth", "log_me", "best_val_accuracy"])
            for depth in depths:
                writer.writerow([depth, f"{scores[depth]:.6f}", f"{accuracy[depth]:.4f}"])
        top = max(depths, key=lambda d: scores[d])
        answer = max(depths, key=lambda d: accuracy[d])
        print(
            f"| {task} | {len(depths)} | {tau:.2f} | {top} ({accuracy[top]:.4f}) "
            f"| {answer} ({accuracy[answer]:.4f}) | {seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
