"""`freezesweep promote`: a finished study's models in the MLflow Model Registry.

freezesweep promote --study top_k_lr
freezesweep promote --study top_k_lr --tracking-uri http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from freezesweep.project import (
    add_study_arguments,
    load_study,
    project_config,
    storage_url,
    tracking_store,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `promote` to the `freezesweep` command line."""
    promote = commands.add_parser(
        "promote",
        help="register a study's best trial's model as <study>@champion and the smallest "
        "within 1 pp as <study>@knee in MLflow (logging their models first if need be)",
    )
    add_study_arguments(promote)
    promote.add_argument(
        "--sweep-dir", default=None, help="where the trials' folders are (default: sweeps/<study>)"
    )
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


def promote_after_sync(saved: Any, tracking: Any, sweep_dir: Path) -> int:
    """After `freezesweep sync` sent a sweep's spooled runs: the models and aliases its end could
    not log while the tracking server was down (its `trainer.log_model`; nothing for `none`).

    Args:
        saved: the sweep's `multirun.yaml`, loaded.
        tracking: the store the runs were sent to (a `TrackingSpec`).
        sweep_dir: the sweep's folder.

    Returns:
        0 when done (or nothing to do), 1 when a chosen trial's model was missing, 2 when the
        study could not be opened (one line on stderr).
    """
    from freezesweep.spec.read import log_model_mode
    from freezesweep.study.promote import describe, promote
    from freezesweep.study.report import trials_frame

    mode = log_model_mode(saved)
    sweeper = (saved.get("hydra") or {}).get("sweeper") or {}
    name, storage = sweeper.get("study_name"), sweeper.get("storage")
    if mode == "none" or not name or not storage:
        return 0
    url = storage_url(str(storage), "conf", None)
    study = load_study(str(name), url) if url is not None else None
    if study is None:
        return 2
    promoted = promote(study, tracking, mode=mode, sweep_dir=sweep_dir)
    for line in describe(promoted, study.study_name, trials_frame(study)):
        print(line)
    return 1 if promoted.missing else 0
