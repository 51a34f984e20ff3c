"""The YAML files Hydra saves (`.hydra/*.yaml`, `multirun.yaml`), with every secret redacted.

Hydra writes a job's composed config, its own config and the command-line overrides before the
task function runs; a password on the command line or in a config file would stay in them. The
task function rewrites them first thing, and the sweeper saves `multirun.yaml` through `save`.
Plain YAML, no OmegaConf: interpolations are strings kept as written (`${oc.env:NAME}` names a
variable, never its value).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from freezesweep.redaction import redact_mapping, redact_override

__all__ = ["redact_saved_configs", "redacted", "remove_run_dir", "save"]

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def redacted(config: Any) -> Any:
    """A config as plain containers with every secret masked.

    Secret-keyed values become `***`, URLs lose their passwords and secret query values, and
    an override string (`key=value` in a list) is masked by its key.

    Args:
        config: nested dicts and lists, interpolations unresolved.
    """
    return _overrides(redact_mapping(config))


def save(config: Any, path: Path) -> None:
    """Writes `redacted(config)` to `path` as YAML.

    Args:
        config: nested dicts and lists, interpolations unresolved.
        path: the YAML file.
    """
    path.write_text(yaml.safe_dump(redacted(config), sort_keys=False, allow_unicode=True))


def redact_saved_configs(output_dir: Path) -> None:
    """Rewrites the YAML files in `output_dir/.hydra` that hold a secret; others stay untouched.

    Args:
        output_dir: a job's Hydra output folder.
    """
    for path in sorted((output_dir / ".hydra").glob("*.yaml")):
        # Every job of a sweep reads these three files: libyaml's loader, where PyYAML has it.
        config = yaml.load(path.read_text(), Loader=_SAFE_LOADER)
        if redacted(config) != config:
            save(config, path)


def remove_run_dir(output_dir: Path, *, root: Path) -> bool:
    """Removes a single run's output folder that holds only what Hydra wrote before the task
    function ran (`.hydra/`, the job's log), and the folders above it it leaves empty, up to `root`.

    A config refused before anything ran must leave nothing behind; a folder holding anything
    else (an earlier run's files, the user's) is kept whole.

    Args:
        output_dir: the run's `hydra.runtime.output_dir`.
        root: where the user started the app; never removed, nor anything above it.

    Returns:
        Whether the run folder was removed.
    """
    output_dir, root = output_dir.resolve(), root.resolve()
    if output_dir == root or root not in output_dir.parents or not output_dir.is_dir():
        return False
    for path in output_dir.iterdir():
        if path.name != ".hydra" and not (path.is_file() and path.suffix == ".log"):
            return False
    shutil.rmtree(output_dir)
    for parent in output_dir.parents:
        if parent == root or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def _overrides(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _overrides(item) for key, item in value.items()}
    if isinstance(value, list):
        return [
            redact_override(item) if isinstance(item, str) else _overrides(item) for item in value
        ]
    return value
