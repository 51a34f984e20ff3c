"""The sweep's definition stored on its study, and what a resumed sweep may change about it.

A study's trials are only comparable while the search space, the directions, the objectives and
the schedule stay the same. The first invocation records them on the study (a user attr, with a
fingerprint); a later invocation whose definition differs is refused before the sweep folder is
touched, unless `hydra.sweeper.on_definition_change` says to accept it or to start a new study.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution

from freezesweep.redaction import redact
from freezesweep.study.attributes import DEFINITION_ATTR
from freezesweep.study.storage import file_exists, open_storage

from ._settings import Settings

log = logging.getLogger(__name__)
_SHOWN = 4  # differences printed in the one-line refusal; the rest are counted


def sweep_definition(
    settings: Settings, distributions: Mapping[str, BaseDistribution], job: DictConfig | None
) -> dict[str, Any]:
    """What makes trials of one study comparable, as plain JSON data.

    Args:
        settings: the sweeper's settings (directions, objectives).
        distributions: the parsed search space.
        job: a composed job config (fixed overrides applied); its `schedule`, unresolved, is
            part of the definition. `None` or no `schedule` key: none recorded.
    """
    schedule = None
    if job is not None and "schedule" in job:
        schedule = OmegaConf.to_container(job.schedule, resolve=False)
    definition: dict[str, Any] = {
        "direction": list(settings.directions),
        "objectives": list(settings.objectives),
        # The repr names the class and every attribute in a fixed order: compact and canonical.
        "params": {key: repr(d) for key, d in sorted(distributions.items())},
        "schedule": schedule,
    }
    definition["fingerprint"] = fingerprint(definition)
    return definition


def fingerprint(definition: Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the definition's canonical JSON (fingerprint excluded)."""
    body = {key: value for key, value in definition.items() if key != "fingerprint"}
    canonical = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`key: old -> new` for every leaf that differs (dotted keys; `<none>` where absent)."""
    old, new = _leaves(stored), _leaves(current)
    keys = sorted(key for key in old.keys() | new.keys() if key != "fingerprint")
    return [
        f"{key}: {old.get(key, '<none>')} -> {new.get(key, '<none>')}"
        for key in keys
        if old.get(key, "<none>") != new.get(key, "<none>")
    ]


@dataclass(frozen=True)
class Resolved:
    """The settings to sweep with (a new study's name) and the sweep folder of their study."""

    settings: Settings
    sweep_dir: Path


def reconcile(settings: Settings, definition: Mapping[str, Any], sweep_dir: Path) -> Resolved:
    """Checks `definition` against the one stored on the study, before the sweep folder exists.

    Args:
        settings: the sweeper's settings.
        definition: this invocation's `sweep_definition`.
        sweep_dir: `hydra.sweep.dir`.

    Returns:
        The settings and folder unchanged (a new study, the same definition, or `accept`), or a
        new study `<study_name>-<fingerprint>` in a sibling folder of that name (`new_study`).

    Raises:
        ValueError: the definition changed and `on_definition_change` is `refuse`, or `accept`
            was asked of a change of direction (Optuna cannot change a study's directions).
    """
    stored = _stored_definition(settings)
    if stored is None or stored.get("fingerprint") == definition["fingerprint"]:
        return Resolved(settings, sweep_dir)
    changed = differences(stored, definition)
    shown = "; ".join(changed[:_SHOWN]) + (
        f"; and {len(changed) - _SHOWN} more" if len(changed) > _SHOWN else ""
    )
    where = f"study '{settings.study_name}' in {redact(settings.storage)}"
    policy = settings.on_definition_change
    if policy == "new_study":
        name = f"{settings.study_name}-{definition['fingerprint']}"
        # sweeps/<study> (the project's default) gets a sibling; any other folder a subfolder.
        renamed = sweep_dir.name == settings.study_name
        folder = sweep_dir.parent / name if renamed else sweep_dir / name
        log.info(f"{where} was defined differently ({shown}): new study '{name}' in {folder}")
        return Resolved(replace(settings, study_name=name), folder)
    if policy == "accept" and stored.get("direction") == definition["direction"]:
        return Resolved(settings, sweep_dir)
    if policy == "accept":
        raise ValueError(
            f"hydra.sweeper.on_definition_change=accept cannot change the direction of {where} "
            f"({stored.get('direction')} -> {definition['direction']}); use new_study."
        )
    raise ValueError(
        f"hydra.sweeper.study_name: {where} was defined differently "
        f"(fingerprint {stored.get('fingerprint')} -> {definition['fingerprint']}): {shown}. "
        "Set hydra.sweeper.on_definition_change=new_study to start a new study, or =accept to "
        "continue this one with the change."
    )


def record(study: Any, definition: Mapping[str, Any]) -> None:
    """Stores `definition` on the study (its creator, a study from before fingerprints, accept)."""
    if study.user_attrs.get(DEFINITION_ATTR) != definition:
        study.set_user_attr(DEFINITION_ATTR, dict(definition))


def _stored_definition(settings: Settings) -> dict[str, Any] | None:
    """The study's stored definition; `None` for no study yet or one from before fingerprints."""
    if not file_exists(settings.storage):  # a fresh storage: nothing to compare, nothing created
        return None
    storage = open_storage(settings.storage)
    try:
        study_id = storage.get_study_id_from_name(settings.study_name)
    except KeyError:
        return None
    stored = storage.get_study_user_attrs(study_id).get(DEFINITION_ATTR)
    return dict(stored) if isinstance(stored, dict) else None


def _leaves(value: Any, prefix: str = "") -> dict[str, str]:
    """Dotted key -> compact JSON of every leaf (a list of scalars is one leaf)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{prefix}.{index}"))
        return out
    if prefix.startswith("params.") and isinstance(value, str):
        return {prefix: value}  # a distribution's JSON, already compact
    return {prefix: json.dumps(value, sort_keys=True, default=str)}
