"""The `freezesweep` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _pretrain(arguments: argparse.Namespace) -> int:
    from freezesweep.pretrain import pretrain_backbone

    path, sha256, accuracy = pretrain_backbone(
        Path(arguments.output), epochs=arguments.epochs, seed=arguments.seed
    )
    print(f"task A (digits 0-4) val_accuracy={accuracy:.4f}")
    print(f"wrote {path}")
    print(f"sha256 {sha256}")
    return 0


def _report(arguments: argparse.Namespace) -> int:
    import optuna
    import pandas as pd

    from freezesweep.report import publish, trials_table
    from freezesweep.spec import TrackingSpec
    from freezesweep.storage import normalize_storage_url, open_storage, redacted

    try:
        url = normalize_storage_url(arguments.storage, key="--storage")
        study = optuna.load_study(study_name=arguments.study, storage=open_storage(url))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyError:
        print(f"error: no study {arguments.study!r} in {redacted(url)}", file=sys.stderr)
        return 2
    tracking = None
    uri = arguments.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri is None and Path("mlruns/mlflow.db").exists():
        uri = "sqlite:///mlruns/mlflow.db"
    if uri is not None:
        tracking = TrackingSpec(
            enabled=True, uri=uri, artifact_root="mlruns/artifacts", experiment=arguments.study
        )
    directory = Path(arguments.output or f"sweeps/{arguments.study}/report")
    # A report taken while a sweep runs must not end the study's parent run.
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(trials_table(study).to_string(index=False))
    publish(study, directory, tracking, end_parent=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `freezesweep`.

    Args:
        argv: arguments without the program name. Defaults to `None` (`sys.argv[1:]`).
    """
    parser = argparse.ArgumentParser(prog="freezesweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    pretrain = commands.add_parser(
        "pretrain", help="pretrain the embedded backbone on MNIST digits 0-4 (task A)"
    )
    pretrain.add_argument("--output", default="digits_backbone.keras", help="the .keras file")
    pretrain.add_argument("--epochs", type=int, default=6)
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.set_defaults(handler=_pretrain)
    report = commands.add_parser(
        "report", help="rebuild a study's trial table, Pareto set and plot from its storage"
    )
    report.add_argument("--study", required=True, help="study name (= MLflow experiment)")
    report.add_argument("--storage", default="sqlite:///sweeps/optuna.db")
    report.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store to update (default: $MLFLOW_TRACKING_URI, else ./mlruns if present)",
    )
    report.add_argument("--output", default=None, help="default: sweeps/<study>/report")
    report.set_defaults(handler=_report)
    arguments = parser.parse_args(argv)
    return int(arguments.handler(arguments))


if __name__ == "__main__":
    sys.exit(main())
