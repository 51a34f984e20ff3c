"""`freezesweep promote`: a finished study's models in the MLflow Model Registry.

freezesweep promote --study top_k_lr
freezesweep promote --study top_k_lr --tracking-uri http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freezesweep.project import load_study, project_config, storage_url, tracking_store


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `promote` to the `freezesweep` command line."""
    promote = commands.add_parser(
        "promote",
        help="register a study's best trial's model as <study>@champion and the smallest "
        "within 1 pp as <study>@knee in MLflow (logging their models first if need be)",
    )
    promote.add_argument("--study", required=True, help="study name (= MLflow experiment)")
    promote.add_argument(
        "--storage", default=None, help="study storage (default: conf/'s hydra.sweeper.storage)"
    )
    promote.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else conf/'s, if present)",
    )
    promote.add_argument(
        "--sweep-dir", default=None, help="where the trials' folders are (default: sweeps/<study>)"
    )
    promote.add_argument("--config-dir", default="conf", help="the project's Hydra config folder")
    promote.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run `promote`: 0 when both aliases point at a model, 1 when a model was missing, 2 with
    one line on stderr for a bad study, storage or store."""
    from freezesweep.redaction import redact
    from freezesweep.study.promote import describe, promote
    from freezesweep.study.report import trials_frame

    config = project_config(Path(arguments.config_dir))
    url = storage_url(arguments.storage, arguments.config_dir, config)
    study = load_study(arguments.study, url) if url is not None else None
    if study is None:
        return 2
    tracking = tracking_store(arguments.tracking_uri, config, arguments.study)
    if tracking is None:
        print("error: no MLflow store here; pass --tracking-uri", file=sys.stderr)
        return 2
    sweep_dir = Path(arguments.sweep_dir or f"sweeps/{arguments.study}")
    promoted = promote(study, tracking, mode="best", sweep_dir=sweep_dir)
    table = trials_frame(study)
    for line in describe(promoted, study.study_name, table):
        print(line)
    if not promoted.aliases and not promoted.missing:
        print(f"error: study {arguments.study!r} has no completed trial", file=sys.stderr)
        return 2
    print(f"tracking: {redact(tracking.uri)}")
    return 1 if promoted.missing else 0
