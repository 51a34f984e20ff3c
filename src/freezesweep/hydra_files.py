"""The YAML files Hydra saves (`.hydra/*.yaml`, `multirun.yaml`), with every secret redacted.

Hydra writes a job's composed config, its own config and the command-line overrides before the
task function runs; a password on the command line or in a config file would stay in them. The
task function rewrites them first thing, and the sweeper saves `multirun.yaml` through `save`.
Plain YAML, no OmegaConf: interpolations are strings kept as written (`${oc.env:NAME}` names a
variable, never its value).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback

from freezesweep.redaction import redact_mapping, redact_override

__all__ = ["RunDirClaim", "redact_saved_configs", "redacted", "remove_run_dir", "save"]

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


class RunDirClaim(Callback):
    """A Hydra callback (`hydra.callbacks` in `conf/config.yaml`) that creates a single run's
    output folder, and the missing folders above it, before Hydra does, and remembers them.

    `remove_run_dir` removes only what this claim proves the project created: a folder that did
    not exist before this run (a user's `hydra.run.dir` that exists already is never removed).
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _CREATED.clear()
        try:
            run_dir = Path(str(config.hydra.run.dir)).absolute()
        except Exception:  # an interpolation Hydra resolves later: nothing claimed, nothing removed
            return
        missing = [run_dir, *(p for p in run_dir.parents)]
        missing = missing[: next(i for i, p in enumerate(missing) if os.path.lexists(p))]
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError:  # made meanwhile by someone else: not ours, nor anything below it
                _CREATED.clear()
                return
            _CREATED.append(folder)


# The folders `RunDirClaim` created in this process for the current single run, top first.
_CREATED: list[Path] = []
_HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}


def remove_run_dir(output_dir: Path) -> bool:
    """Removes a single run's output folder if this run created it (`RunDirClaim`) and it holds
    only what Hydra wrote before the task function ran (`.hydra/`, the job's log), and the
    folders above it this run created and left empty.

    A config refused before anything ran must leave nothing behind; a folder that existed before
    (a user's, an earlier run's) or holds anything else is kept whole. Links are never followed.

    Args:
        output_dir: the run's `hydra.runtime.output_dir`.

    Returns:
        Whether the run folder was removed.
    """
    output_dir = output_dir.absolute()
    if not _CREATED or _CREATED[-1] != output_dir or not _only_hydra_files(output_dir):
        return False
    shutil.rmtree(output_dir)
    for parent in reversed(_CREATED[:-1]):
        if parent.is_symlink() or any(parent.iterdir()):
            break
        parent.rmdir()
    _CREATED.clear()
    return True


def _only_hydra_files(output_dir: Path) -> bool:
    if output_dir.is_symlink() or not output_dir.is_dir():
        return False
    for path in output_dir.iterdir():
        if path.is_symlink():
            return False
        if path.name == ".hydra" and path.is_dir():
            if any(p.is_symlink() or p.name not in _HYDRA_FILES for p in path.iterdir()):
                return False
        elif not (path.is_file() and path.suffix == ".log"):
            return False
    return True


def _overrides(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _overrides(item) for key, item in value.items()}
    if isinstance(value, list):
        return [
            redact_override(item) if isinstance(item, str) else _overrides(item) for item in value
        ]
    return value
