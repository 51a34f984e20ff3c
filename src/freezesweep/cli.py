"""The `freezesweep` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from freezesweep.project import (
    add_study_arguments,
    load_study,
    project_config,
    storage_url,
    tracking_store,
)


def _pretrain(arguments: argparse.Namespace) -> int:
    from freezesweep.pretrain import pretrain_backbone

    path, sha256, accuracy = pretrain_backbone(
        Path(arguments.output), epochs=arguments.epochs, seed=arguments.seed
    )
    print(f"task A (digits 0-4) val_accuracy={accuracy:.4f}")
    print(f"wrote {path}")
    print(f"sha256 {sha256}")
    return 0


def _dashboard(arguments: argparse.Namespace) -> int:
    from freezesweep.redaction import redact
    from freezesweep.study.own_trials import hide_warm_start_trials
    from freezesweep.study.storage import hide_internal_studies, open_storage

    url = storage_url(
        arguments.storage, arguments.config_dir, project_config(Path(arguments.config_dir))
    )
    if url is None:
        return 2
    try:
        from optuna_dashboard import run_server
    except ImportError:
        print(
            "error: optuna-dashboard is not installed (pip install optuna-dashboard)",
            file=sys.stderr,
        )
        return 2
    # The project's own storage opener: `journal:PATH` files and database URLs alike.
    # The sweepers' `<study>:workers` side studies are left out of its study list, and the
    # warm-start trials (an earlier study's, for the sampler only) out of each study.
    storage = hide_warm_start_trials(hide_internal_studies(open_storage(url)))
    print(
        f"optuna-dashboard on http://{arguments.host}:{arguments.port} for {redact(url)}",
        flush=True,
    )
    run_server(storage, host=arguments.host, port=arguments.port)
    return 0


def _report(arguments: argparse.Namespace) -> int:
    import pandas as pd

    from freezesweep.study.report import publish, trials_frame

    config = project_config(Path(arguments.config_dir))
    url = storage_url(arguments.storage, arguments.config_dir, config)
    study = load_study(arguments.study, url) if url is not None else None
    if study is None:
        return 2
    # --tracking-uri, else the configured store ($MLFLOW_TRACKING_URI, else
    # tracking.default_uri) if it exists.
    tracking = tracking_store(arguments.tracking_uri, config, arguments.study)
    directory = Path(arguments.output or f"sweeps/{arguments.study}/report")
    # A report taken while a sweep runs must not end the study's parent run.
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(trials_frame(study).to_string(index=False))
    address = publish(study, directory, tracking, end_parent=False)
    if tracking is not None:
        from freezesweep.study.summary import comparison_lines

        print(comparison_lines(address, tracking.uri))
    return 0


def _sync(arguments: argparse.Namespace) -> int:
    """Replay a sweep's spooled MLflow runs, then log the models and point the aliases its end
    could not (`trainer.log_model`); 0 when none is left, 1 when some wait still (the server is
    down, or an entry was refused and kept for a human), 2 when no store is known."""
    from freezesweep import tracking
    from freezesweep.console import redacted_console
    from freezesweep.errors import ConfigError
    from freezesweep.spec.read import saved_tracking_spec

    folder = Path(arguments.folder)
    root = folder if folder.name == tracking.SPOOL_FOLDER else folder / tracking.SPOOL_FOLDER
    try:
        spec = saved_tracking_spec(root.parent / "multirun.yaml", arguments.tracking_uri)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with redacted_console():  # MLflow prints the tracking URI in its "View run" lines
        done = tracking.replay_spool(spec, root)
        print(f"replayed {len(done.sent)} spooled run(s) to {tracking.redact(spec.uri)}")
        for line in done.kept:
            print(f"error: {line}", file=sys.stderr)
        if done.left:
            print(
                f"not replayed: {', '.join(done.left)} (tracking server unreachable)",
                file=sys.stderr,
            )
        elif done.busy:
            print(f"not replayed: {', '.join(done.busy)} (still being written)", file=sys.stderr)
    if done.left or done.busy or done.kept:
        return 1
    return _promote_after_sync(root.parent, spec)


def _promote_after_sync(sweep_dir: Path, spec: Any) -> int:
    """What the sweep's end could not do while the server was down: its models and aliases.
    Only from a `multirun.yaml` the user running `sync` owns (another's names no study here)."""
    import os

    config_file = sweep_dir / "multirun.yaml"
    if not config_file.is_file() or config_file.stat().st_uid != os.getuid():
        return 0
    from omegaconf import OmegaConf

    from freezesweep.console import redacted_console
    from freezesweep.study.promote_command import promote_after_sync

    with redacted_console():
        return promote_after_sync(OmegaConf.load(config_file), spec, sweep_dir)


def _bench(arguments: argparse.Namespace) -> int:
    from freezesweep.bench import run_bench

    if arguments.repeats < 3:
        print(f"error: --repeats must be >= 3; got {arguments.repeats}", file=sys.stderr)
        return 2
    run_bench(
        Path(arguments.config_dir),
        quick=arguments.quick,
        repeats=arguments.repeats,
        only=tuple(arguments.only or ()),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `freezesweep`.

    Args:
        argv: arguments without the program name. Defaults to `None` (`sys.argv[1:]`).
    """
    arguments = build_parser().parse_args(argv)
    if arguments.command in _KERAS_COMMANDS:
        from freezesweep.console import quiet_tensorflow

        quiet_tensorflow()
    return int(arguments.handler(arguments))


# The commands that load Keras: TensorFlow's C++ log lines are silenced before it is imported
# (the others never import it, and start faster without it).
_KERAS_COMMANDS = ("pretrain", "bench", "zoo", "promote")


def build_parser() -> argparse.ArgumentParser:
    """The `freezesweep` command line: every command, its flags and its handler."""
    from freezesweep.model.zoo.command import add_parser as add_zoo_parser
    from freezesweep.replay.command import add_parser as add_replay_parser
    from freezesweep.study.promote_command import add_parser as add_promote_parser

    parser = argparse.ArgumentParser(prog="freezesweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_model_commands(commands)
    _add_study_commands(commands)
    add_promote_parser(commands)
    add_zoo_parser(commands)
    add_replay_parser(commands)
    return parser


def _add_model_commands(commands: Any) -> None:
    """`pretrain` and `bench`: the commands that build and time models."""
    pretrain = commands.add_parser(
        "pretrain", help="pretrain the embedded backbone on MNIST digits 0-4 (task A)"
    )
    pretrain.add_argument("--output", default="digits_backbone.keras", help="the .keras file")
    pretrain.add_argument("--epochs", type=int, default=6)
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.set_defaults(handler=_pretrain)
    bench = commands.add_parser(
        "bench", help="time the feature cache and the tool side by side; print median ratios"
    )
    bench.add_argument("--quick", action="store_true", help="shrunken pairs (what CI runs)")
    bench.add_argument("--repeats", type=int, default=3, help="side-by-side repeats (>= 3)")
    bench.add_argument(
        "--only",
        nargs="+",
        # `freezesweep.bench.PAIRS`'s names (not imported here: the CLI starts without Keras).
        choices=(
            *("P1", "P2", "P3", "P4", "P5", "P6", "P6-long", "P7", "P8"),
            *("P9", "P9-postgres", "P10", "P10-journal", "P2-lite0", "P3-lite0", "P8-lite0"),
        ),
        help="pairs to run",
    )
    bench.add_argument("--config-dir", default="conf", help="the project's Hydra config folder")
    bench.set_defaults(handler=_bench)


def _add_study_commands(commands: Any) -> None:
    """`report`, `sync` and `dashboard`: the commands that read or repair a study's records."""
    report = commands.add_parser(
        "report", help="rebuild a study's trial table, Pareto set and plot from its storage"
    )
    add_study_arguments(report)
    report.add_argument("--output", default=None, help="default: sweeps/<study>/report")
    report.set_defaults(handler=_report)
    sync = commands.add_parser(
        "sync", help="send the MLflow runs a sweep spooled while its tracking server was down"
    )
    sync.add_argument("folder", help="the sweep's folder (hydra.sweep.dir) or its mlflow_spool/")
    sync.add_argument(
        "--tracking-uri",
        default=None,
        help="default: the sweep's own (its multirun.yaml, if yours), else $MLFLOW_TRACKING_URI",
    )
    sync.set_defaults(handler=_sync)
    dashboard = commands.add_parser(
        "dashboard", help="serve optuna-dashboard on the study storage (journal: files too)"
    )
    dashboard.add_argument(
        "--storage", default=None, help="study storage (default: conf/'s hydra.sweeper.storage)"
    )
    dashboard.add_argument("--config-dir", default="conf", help="the project's Hydra config folder")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8080)
    dashboard.set_defaults(handler=_dashboard)


if __name__ == "__main__":
    sys.exit(main())
