"""The project folder the `freezesweep` commands run in: its composed config, and the study
storage a command reads when none is given."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


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
