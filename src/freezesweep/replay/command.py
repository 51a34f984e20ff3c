"""`freezesweep replay`: search strategies replayed against a recorded grid, in seconds.

freezesweep replay benchmarks/tables/t3_digits_animals.csv --seeds 20 --json out.json
freezesweep replay --from-study t3_digits_animals --write-table t3.csv --seeds 0
freezesweep replay benchmarks/tables/t3_digits_animals.csv \
    --warm-start benchmarks/tables/t4_digits_corrupted.csv --strategy tpe_median
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable, read_table, write_table


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `replay` to the `freezesweep` command line."""
    replay = commands.add_parser(
        "replay", help="replay search strategies against a recorded grid: compute to the answer"
    )
    replay.add_argument("table", nargs="?", help="a grid table (.csv), or use --from-study")
    replay.add_argument("--from-study", default=None, help="a finished study covering a grid")
    replay.add_argument(
        "--storage", default=None, help="its storage (default: conf/'s hydra.sweeper.storage)"
    )
    replay.add_argument("--write-table", default=None, help="save the study's grid as CSV")
    replay.add_argument(
        "--strategy",
        action="append",
        default=None,
        metavar="NAME[=OVERRIDES]",
        help="a baseline's name, or NAME=sweep overrides (space-separated); repeat. "
        "Default: every baseline",
    )
    replay.add_argument("--default", default=None, help="the strategy compared with the others")
    replay.add_argument("--seeds", type=int, default=20, help="seeds per strategy (0: none)")
    replay.add_argument("--space", choices=("table", "sweep"), default="table")
    replay.add_argument("--max-trials", type=int, default=None, help="default: 2x the grid")
    replay.add_argument(
        "--warm-start",
        default=None,
        metavar="TABLE",
        help="another task's table over the same space: each strategy is also replayed as "
        "NAME+warm, warm-started from its own seeded sweep on that table",
    )
    replay.add_argument("--json", default=None, help="write the result for scripts")
    replay.add_argument("--plot", default=None, help="draw the anytime curves (.png)")
    replay.add_argument("--config-dir", default="conf", help="the project's Hydra config folder")
    replay.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run `replay`; 2 with one line on stderr for a bad table, study or strategy."""
    try:
        table = _load(arguments)
        if arguments.write_table:
            print(f"wrote {write_table(table, Path(arguments.write_table))}")
        if arguments.seeds <= 0:
            return 0
        strategies, default = _strategies(arguments)
        missing = table.missing() if arguments.space == "table" else []
        if missing:
            raise ConfigError(
                f"{_source(arguments)}: not a grid: {len(missing)} combination(s) of its "
                f"values were never trained, e.g. {missing[0]}."
            )
        from freezesweep.replay.report import print_result, write_outputs
        from freezesweep.replay.run import WarmTable, replay_strategies

        warm = None
        if arguments.warm_start:
            path = Path(arguments.warm_start)
            warm = WarmTable(read_table(path), path.stem, str(path))
        result = replay_strategies(
            table, strategies, Path(arguments.config_dir), seeds=arguments.seeds,
            default=default, space_from=arguments.space, max_trials=arguments.max_trials,
            warm=warm,
        )  # fmt: skip
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_result(result.summary)
    write_outputs(result, arguments.json, arguments.plot, _source(arguments))
    return 0


def _source(arguments: argparse.Namespace) -> str:
    return str(arguments.table) if arguments.table else f"study '{arguments.from_study}'"


def _load(arguments: argparse.Namespace) -> GridTable:
    if bool(arguments.table) == bool(arguments.from_study):
        raise ConfigError("give a table file or --from-study NAME (one of them).")
    if arguments.table:
        return read_table(Path(arguments.table))
    import optuna

    from freezesweep.project import project_config, storage_url
    from freezesweep.replay.from_study import table_from_study, this_machine
    from freezesweep.study.storage import open_storage

    config = project_config(Path(arguments.config_dir))
    url = storage_url(arguments.storage, arguments.config_dir, config)
    if url is None:
        raise ConfigError("--storage: no storage to read the study from.")
    try:
        study = optuna.load_study(study_name=arguments.from_study, storage=open_storage(url))
    except KeyError as error:
        raise ConfigError(f"--from-study: no study '{arguments.from_study}' there.") from error
    seed = str(config.get("seed", "")) if config is not None else ""
    provenance = {"commit": _commit(Path(arguments.config_dir)), "machine": this_machine()}
    return table_from_study(study, {**provenance, "seed": seed})


def _commit(folder: Path) -> str:
    """The checkout's commit (`+changes` when the tree differs), or `""` outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if dirty else "")


def _strategies(arguments: argparse.Namespace) -> tuple[dict[str, tuple[str, ...]], str]:
    from hydra_plugins.freezesweep_sweeper.replay._strategy import BASELINES, DEFAULT

    strategies: dict[str, tuple[str, ...]] = {}
    for text in arguments.strategy or ():
        name, sep, overrides = text.partition("=")
        if not sep and name in BASELINES:
            strategies[name] = BASELINES[name]
        elif not sep or not name:
            raise ConfigError(
                f"--strategy {text!r}: expected NAME=OVERRIDES or a baseline "
                f"({', '.join(BASELINES)})."
            )
        else:
            strategies[name] = tuple(overrides.split())
    if not strategies:
        strategies = dict(BASELINES)
        if importlib.util.find_spec("torch") is None:
            del strategies["gp"]
            print("gp: not replayed (Optuna's GPSampler needs torch: pip install torch)")
    default = arguments.default or (DEFAULT if DEFAULT in strategies else next(iter(strategies)))
    if default not in strategies:
        raise ConfigError(f"--default {default}: not one of {', '.join(strategies)}.")
    return strategies, default
