"""What Hydra itself builds from a config, checked before it builds any of it.

Hydra instantiates more than the project does: `hydra.callbacks` (each `_target_`, nested ones
too), the `hydra_logging` and `job_logging` dictionaries (`logging.config.dictConfig`: a handler's
`class`, a `()` factory, an `ext://` object, a file handler's `filename`), its launcher (with
every nested `_target_`, recursively) and its sweeper; `hydra.job.env_set` reaches every job's
environment. A sweep file or an override can set any of them, so `sweep.py` runs `check_hydra`
on every config Hydra loads (`freezesweep.compat.hydra_check_loaded_configs`), before logging is
configured, a callback, plugin or folder exists:

- a callback is one of `CALLBACKS` or a class of a module in `allowed_targets`;
- a logging class or factory is one of `logging.*`, `logging.handlers.*` (or `colorlog.*`, the
  formatter of Hydra's colorlog plugin); `ext://` names only `sys.stdout` or `sys.stderr`; a log
  file's name ends in `.log` (a handler must not write a `.py` file the next run imports);
- no `_target_` under `hydra.launcher` but its own, and the sweeper keeps `_recursive_: false`
  (it builds its sampler and pruner itself, through `freezesweep.targets`);
- `hydra.job.env_set` sets no variable that decides what code a process loads (`LD_*`,
  `DYLD_*`, `PYTHON*`, `BASH_ENV`, `ENV`).

Plain data in, `ConfigError` out: the caller converts Hydra's `DictConfig` (unresolved, so a
value still to be filled at run time is checked as written).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from freezesweep import targets
from freezesweep.errors import ConfigError

# Hydra callbacks a config may name, besides classes of the user's `allowed_targets` modules.
CALLBACKS = (
    "freezesweep.hydra_files.RunDirClaim",
    "hydra.experimental.callbacks.LogJobReturnCallback",
)
LOGGING_MODULES = ("logging", "logging.handlers", "colorlog")
STREAMS = ("ext://sys.stdout", "ext://sys.stderr")
LOG_SUFFIX = ".log"
# Variables that choose what a process (a launched job) loads and runs.
ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON")
ENV_NAMES = ("BASH_ENV", "ENV")


def check_hydra(hydra: Mapping[Any, Any], allowed_targets: Any = None) -> None:
    """Refuses a `hydra` node that would make Hydra build or load code outside the allow-lists.

    Args:
        hydra: the `hydra` node as plain data, interpolations unresolved.
        allowed_targets: the config's `allowed_targets` (the user's modules). Defaults to
            `None`.

    Raises:
        ConfigError: naming the first key at fault, what it holds and what is allowed.
    """
    user = targets.allow_modules(allowed_targets)
    for name, spec in _items(hydra.get("callbacks")):
        if spec is not None:  # null switches a callback off: Hydra builds nothing for it
            _check_callbacks(spec, f"hydra.callbacks.{name}", user)
    for section in ("hydra_logging", "job_logging"):
        check_logging(hydra.get(section), f"hydra.{section}")
    launcher = hydra.get("launcher")
    for key, _ in _targets(launcher, "hydra.launcher"):
        if key != "hydra.launcher._target_":
            raise ConfigError(
                f"{key}: Hydra would instantiate it when it starts the launcher, with no "
                "allow-list; a launcher setting holds no _target_."
            )
    sweeper = hydra.get("sweeper")
    if isinstance(sweeper, Mapping) and sweeper.get("_recursive_", False) is not False:
        raise ConfigError(
            "hydra.sweeper._recursive_ must stay false: the sweeper builds its sampler and "
            f"pruner itself, through the allow-list; got {sweeper['_recursive_']!r}."
        )
    job = hydra.get("job")
    env_set = job.get("env_set") if isinstance(job, Mapping) else None
    for variable, _ in _items(env_set):
        if str(variable).startswith(ENV_PREFIXES) or variable in ENV_NAMES:
            raise ConfigError(
                f"hydra.job.env_set.{variable} is refused: it decides what code a job loads "
                f"({', '.join(p + '*' for p in ENV_PREFIXES)}, {', '.join(ENV_NAMES)}); set it "
                "in the environment the sweep starts from."
            )


def check_logging(config: Any, key: str) -> None:
    """Refuses a `logging.config.dictConfig` dictionary that would build or import code.

    Args:
        config: the dictionary (`hydra.job_logging`), plain data; `None` is Hydra's default.
        key: its config key, for the message.

    Raises:
        ConfigError: a handler or formatter class or `()` factory outside `LOGGING_MODULES`, an
            `ext://` object other than a standard stream, a log file not ending in `.log`.
    """
    allowed = ", ".join(f"{module}.*" for module in LOGGING_MODULES)
    for path, name, value in _leaves(config, key):
        if name in ("class", "()") and not _is_logging_name(value):
            raise ConfigError(f"{path} must name one of {allowed}; got {value!r}.")
        if isinstance(value, str) and value.startswith("ext://") and value not in STREAMS:
            raise ConfigError(
                f"{path} may name only {' or '.join(STREAMS)} (ext:// imports what it names); "
                f"got {value!r}."
            )
        if name == "filename" and not (isinstance(value, str) and value.endswith(LOG_SUFFIX)):
            raise ConfigError(
                f"{path} must end in {LOG_SUFFIX} (a handler writing a .py file would make the "
                f"next run import it); got {value!r}."
            )


def _check_callbacks(spec: Any, key: str, user: Sequence[str]) -> None:
    found = list(_targets(spec, key))
    if not found:
        raise ConfigError(f"{key} must be a mapping with a _target_; got {spec!r}.")
    for path, target in found:
        module = str(target).rpartition(".")[0]
        if target in CALLBACKS or module in user:
            continue
        choices = ", ".join([*CALLBACKS, *(f"{module}.*" for module in user)])
        raise ConfigError(f"{path} must name one of {choices}; got {target!r}.")


def _is_logging_name(value: Any) -> bool:
    module, _, name = value.rpartition(".") if isinstance(value, str) else ("", "", "")
    return module in LOGGING_MODULES and name[:1].isupper()


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, Mapping):
        yield from node.items()


def _targets(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every `_target_` under `node`, at any depth, with its full key."""
    for path, name, value in _leaves(node, key):
        if name == "_target_":
            yield path, value


def _leaves(node: Any, key: str) -> Iterator[tuple[str, Any, Any]]:
    """`(full key, own name, value)` of every value under `node`, mappings and lists alike."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, Mapping):
        children = list(node.items())
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        children = list(enumerate(node))
    for name, value in children:
        path = f"{key}.{name}"
        if isinstance(value, Mapping | list | tuple):
            yield from _leaves(value, path)
        else:
            yield path, name, value
