"""The project folder the `freezesweep` commands run in: its composed config, the study storage
and the MLflow store a command reads when none is given."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """`--study`, `--storage`, `--tracking-uri` and `--config-dir`: how a command that reads a
    finished study finds it and the MLflow store it updates (`report`, `promote`)."""
    parser.add_argument("--study", required=True, help="study name (= MLflow experiment)")
    parser.add_argument(
        "--storage", default=None, help="study storage (default: conf/'s hydra.sweeper.storage)"
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store to update (default: $MLFLOW_TRACKING_URI, else conf/'s, if present)",
    )
    parser.add_argument("--config-dir", default="conf", help="the project's Hydra config folder")


def project_config(config_dir: Path) -> Any:
    """The project's composed config (`conf/`), where the storage and tracking defaults live;
    `None` outside a project folder."""
    if not (config_dir / "config.yaml").is_file():
        return None
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        return compose("config", return_hydra_config=True)


def storage_url(storage: str | None, config_dir: str, config: Any) -> str | None:
    """`storage` (`--storage`), else the project's `hydra.sweeper.storage`, normalized; `None`
    after an error was printed."""
    storage = storage or (config.hydra.sweeper.storage if config else None)
    if storage is None:
        print(
            f"error: --storage is required outside a project folder (no {config_dir}/)",
            file=sys.stderr,
        )
        return None
    from freezesweep.study.storage import normalize_storage_url

    try:
        return normalize_storage_url(storage, key="--storage")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def load_study(name: str, url: str) -> Any:
    """The study `name` in storage `url` (an `optuna.Study`); `None` after one line was printed:
    no such file or study (nothing is created), or a storage that cannot be read (a file that is
    no Optuna storage, a path that cannot be opened, a server that is down)."""
    from freezesweep.study.storage import load_existing_study

    try:
        return load_existing_study(url, name, "--storage")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
    return None


def tracking_store(tracking_uri: str | None, config: Any, study_name: str) -> Any:
    """The MLflow store a command updates (a `TrackingSpec`), or `None` when there is none:
    `tracking_uri` (`--tracking-uri`), else the configured store (`$MLFLOW_TRACKING_URI`, else
    `tracking.default_uri`) if it is a server or a local store that exists."""
    import dataclasses

    from freezesweep.spec import TrackingSpec
    from freezesweep.spec.read import tracking_spec

    configured = tracking_spec(config) if config is not None else None
    if tracking_uri is not None:
        base = configured or TrackingSpec(True, "", "", study_name)
        return dataclasses.replace(base, enabled=True, uri=tracking_uri)
    if configured is not None:
        local = configured.uri.removeprefix("sqlite:///")
        if not configured.uri.startswith("sqlite:///") or Path(local).exists():
            return configured
    return None
