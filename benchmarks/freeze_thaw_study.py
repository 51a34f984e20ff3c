r"""Design study: would freeze-thaw (pause every configuration early, continue the best) reach a
recorded grid's answer with less compute than the default sweep?

Nothing here is a strategy the sweeper runs. It replays an idealised freeze-thaw on the recorded
tables (`benchmarks/tables/*.csv`), with a resume that costs nothing and continues the recorded
curve exactly (an upper bound on what a real pause at an epoch could do):

- TPE (6 start-up trials, seeded) asks a configuration from the table's grid; it trains the head
  stage and `rung` epochs of the fine-tuning stage, and pauses: told PRUNED with its value at the
  rung, which TPE reads as it reads pruned trials;
- after every `batch` new configurations, the best paused one is thawed: the rest of its curve,
  charged only the epochs after the rung, told COMPLETE with its final value;
- a configuration asked twice thaws the best paused one instead.

It prints, per table and (rung, batch), the median and spread over 20 seeds of the compute (the
table's recorded seconds) until a thawed value is within 0.5 pp of the grid's best, beside the
default strategy's (`tpe_median`, replayed by `freezesweep replay`'s engine in the same run), and
the ratio default / freeze-thaw (above 1: freeze-thaw needed less).

    python benchmarks/freeze_thaw_study.py [TABLE ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings
from pathlib import Path

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from freezesweep.replay.answer import targets
from freezesweep.replay.run import replay_strategies
from freezesweep.replay.table import GridPoint, GridTable, read_table
from hydra_plugins.freezesweep_sweeper.replay._strategy import BASELINES, DEFAULT

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 20


def freeze_thaw(table: GridTable, seed: int, rung: int, batch: int, limit: int = 400) -> float:
    """Compute until a thawed value reaches the answer (`inf`: never, within `limit` asks)."""
    space: dict[str, BaseDistribution] = {
        key: CategoricalDistribution(tuple(table.values(key))) for key in table.keys
    }
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=6)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    answer = targets(table.best.value)[0]
    pause = table.points[0].stage_epochs[0] + rung
    spent, new = 0.0, 0
    paused: list[tuple[float, GridPoint]] = []
    seen: set[tuple[object, ...]] = set()
    for _ in range(limit):
        trial = study.ask(space)
        key = tuple(sorted(trial.params.items()))
        point = table.point(trial.params)
        assert point is not None
        if key in seen:
            study.tell(trial, state=TrialState.PRUNED)
            if not paused:
                return math.inf
            new = batch - 1
        else:
            seen.add(key)
            for epoch, value in enumerate(point.curve[:pause]):
                trial.report(value, epoch)
            spent += point.seconds_until(pause)
            study.tell(trial, state=TrialState.PRUNED)
            paused.append((point.curve[pause - 1], point))
        new += 1
        if new % batch == 0:
            paused.sort(key=lambda item: -item[0])
            best = paused.pop(0)[1]
            spent += best.seconds - best.seconds_until(pause)
            study.enqueue_trial(dict(best.params))
            thawed = study.ask(space)
            for epoch, value in enumerate(best.curve):
                thawed.report(value, epoch)
            study.tell(thawed, best.value)
            if best.value >= answer:
                return spent
    return math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", type=Path)
    arguments = parser.parse_args()
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    paths = arguments.tables or sorted((ROOT / "benchmarks" / "tables").glob("*.csv"))
    for path in paths:
        table = read_table(path)
        result = replay_strategies(
            table, {DEFAULT: BASELINES[DEFAULT]}, ROOT / "conf", seeds=SEEDS, default=DEFAULT
        )
        default = result.summary["strategies"][DEFAULT]["to_answer_s"]["median"]
        print(f"{path.stem}: {DEFAULT} median {default:.0f} s to within 0.5 pp", flush=True)
        for rung in (1, 2, 3):
            for batch in (2, 3, 4):
                spent = [freeze_thaw(table, seed, rung, batch) for seed in range(SEEDS)]
                median = statistics.median(spent)
                print(
                    f"  freeze-thaw rung {rung} batch {batch}: median {median:.0f} s "
                    f"[{min(spent):.0f}, {max(spent):.0f}]  {DEFAULT}/this {default / median:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
