"""The one reader of `hydra.sweeper.*`: validated, typed settings, or a ValueError naming the key.

Everything here runs in `setup()`, before any study storage exists, so a bad sweep file fails
without leaving a database or a trial behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from omegaconf import DictConfig, ListConfig, OmegaConf

from freezesweep.objectives import OBJECTIVES, default_objectives
from freezesweep.redaction import redact
from freezesweep.study.constraints import CONSTRAINT_METRICS
from freezesweep.study.pruning import pruner_from_spec
from freezesweep.study.storage import normalize_storage_url
from freezesweep.study.warm_start import WarmSource

from ._sampler import check_sampler
from ._user_functions import resolve_hook

Direction = Literal["maximize", "minimize"]
_DIRECTIONS = ("maximize", "minimize")
DefinitionChange = Literal["refuse", "accept", "new_study"]
_DEFINITION_CHANGES = ("refuse", "accept", "new_study")


@dataclass(frozen=True)
class Settings:
    """`hydra.sweeper.*` after validation (see `FreezesweepSweeperConf` for each key)."""

    sampler: dict[str, Any]
    directions: list[Direction]
    objectives: list[str]
    storage: str  # journal:PATH or a database URL; paths absolute (jobs may change directory).
    study_name: str
    n_trials: int
    n_jobs: int
    max_failure_rate: float
    params: dict[str, str]
    custom_search_space: Callable[..., Any] | None
    pruner: dict[str, Any] | None
    constraints: dict[str, int]  # {metric: budget}; empty: no budget
    enqueue: list[dict[str, Any]]
    seed: int | None
    # None: SLURM's ids, else the order of registration (`trials._shared_study.worker_identity`).
    worker: str | None
    on_sweep_start: Callable[..., Any] | None
    on_sweep_end: Callable[..., Any] | None
    on_trial_end: Callable[..., Any] | None
    preflight: Callable[..., Any] | None
    heartbeat_interval: float
    grace_period: float
    tell_attempts: int
    tell_backoff: float
    on_definition_change: DefinitionChange = "refuse"
    warm_start: tuple[WarmSource, ...] = ()


def read_settings(conf: Mapping[str, Any], *, sweep_dir: str = ".") -> Settings:
    """Validates the sweeper's keyword arguments (as Hydra instantiated them) into `Settings`.

    Args:
        conf: the keys of `hydra.sweeper`.
        sweep_dir: `hydra.sweep.dir`, home of the study when `storage` is null. Defaults to
            the working directory.
    """
    raw = {key: _plain(value) for key, value in conf.items()}
    directions = _directions(raw.get("direction"))
    pruner = _without_nulls(raw.get("pruner"))
    if pruner is not None:
        _check_pruner(pruner, directions)
    sampler_spec = _without_nulls(raw.get("sampler")) or {"_target_": "optuna.samplers.TPESampler"}
    if not isinstance(sampler_spec, dict) or "_target_" not in sampler_spec:
        raise ValueError(f"hydra.sweeper.sampler must be a _target_ mapping; got {sampler_spec!r}.")
    # Hydra's grid option is `_partial_`: its search space comes from `params` (see build_sampler).
    sampler = {key: value for key, value in sampler_spec.items() if key != "_partial_"}
    # A seed in the sampler spec (the form existing sweep files use) is the base seed too; the
    # sampler itself gets a per-worker seed derived from it (`trials._shared_study.derive_seed`).
    sampler_seed = sampler.pop("seed", None)
    check_sampler(sampler)
    storage = _storage(raw.get("storage"), sweep_dir)
    return Settings(
        sampler=sampler,
        directions=directions,
        objectives=_objectives(raw.get("objectives"), directions),
        storage=storage,
        study_name=_study_name(raw.get("study_name")),
        n_trials=_int_at_least("n_trials", raw.get("n_trials"), 1),
        n_jobs=_int_at_least("n_jobs", raw.get("n_jobs"), 1),
        max_failure_rate=_rate(raw.get("max_failure_rate")),
        params={str(key): str(value) for key, value in (raw.get("params") or {}).items()},
        custom_search_space=resolve_hook("custom_search_space", raw.get("custom_search_space")),
        pruner=pruner,
        constraints=_constraints(raw.get("constraints")),
        enqueue=_enqueue(raw.get("enqueue")),
        seed=_seed("sampler.seed", sampler_seed)
        if sampler_seed is not None
        else _seed("seed", raw.get("seed")),
        worker=None if raw.get("worker") is None else _non_empty_str("worker", raw.get("worker")),
        on_sweep_start=resolve_hook("on_sweep_start", raw.get("on_sweep_start")),
        on_sweep_end=resolve_hook("on_sweep_end", raw.get("on_sweep_end")),
        on_trial_end=resolve_hook("on_trial_end", raw.get("on_trial_end")),
        preflight=resolve_hook("preflight", raw.get("preflight")),
        **_liveness(raw.get("heartbeat_interval"), raw.get("grace_period")),
        tell_attempts=_int_at_least("tell_attempts", raw.get("tell_attempts", 5), 1),
        tell_backoff=_seconds("tell_backoff", raw.get("tell_backoff", 1.0)),
        on_definition_change=_definition_change(raw.get("on_definition_change", "refuse")),
        warm_start=_warm_start(raw.get("warm_start"), storage),
    )


def _warm_start(value: Any, storage: str) -> tuple[WarmSource, ...]:
    """`[name, {study: name, storage: url}, ...]`; a bare name lives in the sweep's storage."""
    if value is not None and not isinstance(value, list):
        raise ValueError(
            "hydra.sweeper.warm_start must be a list of study names or {study: NAME, storage: "
            f"URL}} mappings; got {redact(repr(value))}."
        )
    sources: list[WarmSource] = []
    for index, entry in enumerate(value or []):
        key = f"hydra.sweeper.warm_start[{index}]"
        if isinstance(entry, str) and entry:
            source = WarmSource(entry, storage)
        elif isinstance(entry, dict) and set(entry) <= {"study", "storage"} and "study" in entry:
            url = entry.get("storage")
            where = storage if url is None else normalize_storage_url(url, f"{key}.storage")
            source = WarmSource(_non_empty_str(f"warm_start[{index}].study", entry["study"]), where)
        else:
            raise ValueError(
                f"{key} must be a study name or {{study: NAME, storage: URL}}; "
                f"got {redact(repr(entry))}."
            )
        if source in sources:
            raise ValueError(f"{key}: {source} is named twice.")
        sources.append(source)
    return tuple(sources)


def _definition_change(value: Any) -> DefinitionChange:
    if value not in _DEFINITION_CHANGES:
        raise ValueError(
            "hydra.sweeper.on_definition_change must be one of "
            f"{', '.join(_DEFINITION_CHANGES)}; got {value!r}."
        )
    return cast(DefinitionChange, value)


def _without_nulls(spec: Any) -> Any:
    # A null argument means "Optuna's default": the config groups declare every argument as null
    # (see `config.SAMPLERS`), and a class must not receive another class's arguments.
    if not isinstance(spec, dict):
        return spec
    return {key: _without_nulls(value) for key, value in spec.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _directions(value: Any) -> list[Direction]:
    directions = value if isinstance(value, list) else [value]
    if not directions or any(d not in _DIRECTIONS for d in directions):
        raise ValueError(
            "hydra.sweeper.direction must be 'maximize' or 'minimize', or a list of them; "
            f"got {value!r}."
        )
    return [cast(Direction, d) for d in directions]


def _objectives(value: Any, directions: list[Direction]) -> list[str]:
    if value is None:
        # Not set: the project's single (val_accuracy) and Pareto (+ trainable_params) sweeps.
        if len(directions) > len(OBJECTIVES):
            raise ValueError(
                f"hydra.sweeper.objectives: name each of the {len(directions)} objectives."
            )
        return default_objectives(len(directions))
    names = [str(name) for name in value] if isinstance(value, list) else [str(value)]
    if len(names) != len(directions) or len(set(names)) != len(names):
        raise ValueError(
            f"hydra.sweeper.objectives must give {len(directions)} distinct name(s), one per "
            f"direction {directions}; got {value!r}."
        )
    return names


def _check_pruner(spec: Any, directions: list[Direction]) -> None:
    if len(directions) > 1:
        raise ValueError(
            f"hydra.sweeper.pruner: Optuna prunes single-objective studies only, and this sweep "
            f"has {len(directions)} directions {directions}; set hydra.sweeper.pruner to null."
        )
    if not isinstance(spec, dict):
        raise ValueError(f"hydra.sweeper.pruner must be a _target_ mapping or null; got {spec!r}.")
    try:
        pruner_from_spec(spec)
    except ValueError as error:
        raise ValueError(f"hydra.sweeper.pruner: {error}") from error


def _constraints(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(
            f"hydra.sweeper.constraints must be a mapping {{metric: limit}}, e.g. "
            f"{{trainable_params: 50000}}; got {value!r}."
        )
    budgets = {}
    for metric, limit in value.items():
        if metric not in CONSTRAINT_METRICS:
            raise ValueError(
                f"hydra.sweeper.constraints.{metric}: unknown metric; a budget may name "
                f"{', '.join(CONSTRAINT_METRICS)} (known before training)."
            )
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(
                f"hydra.sweeper.constraints.{metric} must be a positive integer; got {limit!r}."
            )
        budgets[str(metric)] = limit
    return budgets


def _enqueue(value: Any) -> list[dict[str, Any]]:
    sets = value or []
    if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
        raise ValueError(
            f"hydra.sweeper.enqueue must be a list of {{param: value}} mappings; got {value!r}."
        )
    return [{str(key): v for key, v in s.items()} for s in sets]


def _storage(value: Any, sweep_dir: str) -> str:
    # Hydra's sweeper keeps a null storage in memory; jobs here re-attach to their trial from
    # another process, so a file in the (per-invocation) sweep directory stands in for it.
    url = f"sqlite:///{os.path.abspath(sweep_dir)}/optuna.db" if value is None else value
    return normalize_storage_url(url)


def _study_name(value: Any) -> str:
    if value is None:  # As Optuna names a study without a name: a new study every time.
        return f"no-name-{uuid.uuid4()}"
    name = _non_empty_str("study_name", value)
    # The study names its folder (sweeps/<study_name>) and the MLflow experiment: a path in it
    # would place the sweep, its trials and reports outside the sweeps folder.
    if name in (".", "..") or any(character in name for character in "/\\\0"):
        raise ValueError(
            "hydra.sweeper.study_name names the study's folder: a plain name, without '/' or "
            f"'\\', and not '.' or '..'; got {name!r}."
        )
    return name


def _non_empty_str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"hydra.sweeper.{key} must be a non-empty string; got {value!r}.")
    return value


def _int_at_least(key: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"hydra.sweeper.{key} must be an integer >= {minimum}; got {value!r}.")
    return value


def _rate(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"hydra.sweeper.max_failure_rate must be in [0, 1]; got {value!r}.")
    return float(value)


def _seconds(key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"hydra.sweeper.{key} must be a number of seconds > 0; got {value!r}.")
    return float(value)


def _liveness(interval: Any, grace: Any) -> dict[str, float]:
    for key, value in (("heartbeat_interval", interval), ("grace_period", grace)):
        _seconds(key, value)
    if grace < 3 * interval:
        raise ValueError(
            f"hydra.sweeper.grace_period ({grace}) must be at least 3 heartbeat intervals "
            f"({3 * interval}), or live trials of slow workers would be failed as stale."
        )
    return {"heartbeat_interval": float(interval), "grace_period": float(grace)}


def _seed(key: str, value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"hydra.sweeper.{key} must be an integer or null; got {value!r}.")
    return value
