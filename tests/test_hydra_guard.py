"""What Hydra itself builds from a config (callbacks, logging, its launcher, job variables) is
checked against allow-lists before Hydra builds any of it: one row per shape, several per class,
each refused with the same one line."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import CompactHydraException

from freezesweep import compat, targets
from freezesweep.errors import ConfigError
from freezesweep.hydra_guard import check_hydra
from freezesweep.spec.read import check_hydra_settings

CONF = Path(__file__).resolve().parents[1] / "conf"
CALLBACKS = (
    "must name one of freezesweep.hydra_files.RunDirClaim, "
    "hydra.experimental.callbacks.LogJobReturnCallback"
)
LOGGING = "must name one of logging.*, logging.handlers.*, colorlog.*"
FILE = "must end in .log (a handler writing a .py file would make the next run import it)"
ENV = (
    "is refused: it decides what code a job loads (LD_*, DYLD_*, PYTHON*, BASH_ENV, ENV); set it "
    "in the environment the sweep starts from."
)
LAUNCHER = (
    "Hydra would instantiate it when it starts the launcher, with no allow-list; a launcher "
    "setting holds no _target_."
)


@pytest.fixture(autouse=True)
def _no_user_modules() -> Iterator[None]:
    yield
    targets.allow_modules([])


def hydra_node() -> dict[str, Any]:
    """The project's own `hydra` node as Hydra loads it (interpolations unresolved)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert isinstance(node, dict)
    return node


def test_the_projects_own_settings_pass() -> None:
    # Hydra's default logging (a .log file under the run folder, ext://sys.stdout) and our
    # callback are allowed.
    check_hydra(hydra_node())


def _set(node: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


ROWS = [
    # Callbacks: instantiated by Hydra before anything of ours runs.
    ("callbacks.evil", {"_target_": "os.system", "command": "touch pwned"},
     f"hydra.callbacks.evil._target_ {CALLBACKS}; got 'os.system'."),
    ("callbacks.evil", {"_target_": "subprocess.run", "args": ["id"]},
     f"hydra.callbacks.evil._target_ {CALLBACKS}; got 'subprocess.run'."),
    ("callbacks.evil", {"_target_": "evil_module.Callback"},
     f"hydra.callbacks.evil._target_ {CALLBACKS}; got 'evil_module.Callback'."),
    ("callbacks.run_dir_claim", {"_target_": "freezesweep.hydra_files.remove_run_dir"},
     f"hydra.callbacks.run_dir_claim._target_ {CALLBACKS}; "
     "got 'freezesweep.hydra_files.remove_run_dir'."),
    ("callbacks.nested",
     {"_target_": "hydra.experimental.callbacks.LogJobReturnCallback",
      "x": [{"_target_": "numpy.load"}]},
     f"hydra.callbacks.nested.x.0._target_ {CALLBACKS}; got 'numpy.load'."),
    ("callbacks.plain", "os.system",
     "hydra.callbacks.plain must be a mapping with a _target_; got 'os.system'."),
    # Logging: dictConfig imports and calls classes and factories by name.
    ("job_logging.handlers.file.class", "evil_module.Handler",
     f"hydra.job_logging.handlers.file.class {LOGGING}; got 'evil_module.Handler'."),
    ("hydra_logging.handlers.console.class", "os.system",
     f"hydra.hydra_logging.handlers.console.class {LOGGING}; got 'os.system'."),
    ("job_logging.formatters.simple.()", "subprocess.Popen",
     f"hydra.job_logging.formatters.simple.() {LOGGING}; got 'subprocess.Popen'."),
    ("job_logging.filters.f.()", "logging.config.dictConfig",
     f"hydra.job_logging.filters.f.() {LOGGING}; got 'logging.config.dictConfig'."),
    ("job_logging.handlers.console.stream", "ext://evil_module.stream",
     "hydra.job_logging.handlers.console.stream may name only ext://sys.stdout or "
     "ext://sys.stderr (ext:// imports what it names); got 'ext://evil_module.stream'."),
    ("job_logging.handlers.file.filename", "evil_module.py",
     f"hydra.job_logging.handlers.file.filename {FILE}; got 'evil_module.py'."),
    ("job_logging.handlers.file.filename", "${hydra.runtime.cwd}/tests/__init__.py",
     f"hydra.job_logging.handlers.file.filename {FILE}; "
     "got '${hydra.runtime.cwd}/tests/__init__.py'."),
    ("hydra_logging.handlers.file",
     {"class": "logging.handlers.RotatingFileHandler", "filename": "sitecustomize.pyc"},
     f"hydra.hydra_logging.handlers.file.filename {FILE}; got 'sitecustomize.pyc'."),
    # The launcher is instantiated recursively; the sweeper only while _recursive_ is false.
    ("launcher.extra", {"_target_": "os.system", "command": "id"},
     f"hydra.launcher.extra._target_: {LAUNCHER}"),
    ("launcher.additional_parameters", {"x": [{"_target_": "builtins.eval"}]},
     f"hydra.launcher.additional_parameters.x.0._target_: {LAUNCHER}"),
    ("sweeper._recursive_", True,
     "hydra.sweeper._recursive_ must stay false: the sweeper builds its sampler and pruner "
     "itself, through the allow-list; got True."),
    ("sweeper._recursive_", "yes",
     "hydra.sweeper._recursive_ must stay false: the sweeper builds its sampler and pruner "
     "itself, through the allow-list; got 'yes'."),
    # Job variables that decide what code a launched process loads.
    ("job.env_set.LD_PRELOAD", "/tmp/evil.so", f"hydra.job.env_set.LD_PRELOAD {ENV}"),
    ("job.env_set.PYTHONPATH", "/tmp", f"hydra.job.env_set.PYTHONPATH {ENV}"),
    ("job.env_set.PYTHONSTARTUP", "/tmp/x.py", f"hydra.job.env_set.PYTHONSTARTUP {ENV}"),
    ("job.env_set.DYLD_INSERT_LIBRARIES", "/tmp/x",
     f"hydra.job.env_set.DYLD_INSERT_LIBRARIES {ENV}"),
    ("job.env_set.BASH_ENV", "/tmp/x.sh", f"hydra.job.env_set.BASH_ENV {ENV}"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "message"), ROWS, ids=[row[0] for row in ROWS])
def test_what_hydra_would_build_outside_the_allow_lists_is_refused(
    path: str, value: Any, message: str
) -> None:
    node = copy.deepcopy(hydra_node())
    _set(node, path, value)
    with pytest.raises(ConfigError) as caught:
        check_hydra(node)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("callbacks.log", {"_target_": "hydra.experimental.callbacks.LogJobReturnCallback"}),
        ("job_logging.handlers.file.filename", "/var/log/sweeps/trials.log"),
        ("job_logging.handlers.console.stream", "ext://sys.stderr"),
        ("job_logging.handlers.rotating", {"class": "logging.handlers.RotatingFileHandler",
                                           "filename": "x.log", "maxBytes": 1000}),
        ("job.env_set.KERAS_BACKEND", "jax"),
        ("callbacks.run_dir_claim", None),  # a callback switched off
        ("job.env_set.CUDA_VISIBLE_DEVICES", "0"),
    ],
)  # fmt: skip
def test_ordinary_settings_pass(path: str, value: Any) -> None:
    node = copy.deepcopy(hydra_node())
    _set(node, path, value)
    check_hydra(node)


def test_a_callback_of_the_users_own_module_passes() -> None:
    node = copy.deepcopy(hydra_node())
    _set(node, "callbacks.mine", {"_target_": "mypkg.callbacks.Notify"})
    check_hydra(node, ["mypkg.callbacks"])
    with pytest.raises(ConfigError, match=r"^allowed_targets\.0 must be a module of your own"):
        check_hydra(node, ["os"])


def test_hydra_refuses_the_config_as_it_loads_it_before_building_anything() -> None:
    compat.hydra_check_loaded_configs(check_hydra_settings)
    compat.hydra_check_loaded_configs(check_hydra_settings)  # installing twice wraps once
    override = "+hydra.callbacks.evil={_target_: freezesweep_never_imported.run}"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        with pytest.raises(CompactHydraException) as caught:
            compose("config", overrides=[override], return_hydra_config=True)
        # Hydra prints a compact exception as its one line.
        assert str(caught.value) == (
            f"hydra.callbacks.evil._target_ {CALLBACKS}; got 'freezesweep_never_imported.run'."
        )
        compose("config", return_hydra_config=True)
    import sys

    assert "freezesweep_never_imported" not in sys.modules
