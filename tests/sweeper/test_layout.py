"""The plugin's layout: what Hydra's plugin scan finds and runs, and rooms that import downward.

The rooms, bottom up: `definition` (reading the sweep definition) imports no other room;
`jobs` and `trials` build on `definition` alone; `launchers` stand alone; `loop` uses them all.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.helpers.processes import run_script

PLUGIN = "hydra_plugins.freezesweep_sweeper"
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "src" / "hydra_plugins" / "freezesweep_sweeper"
# Room -> the other rooms it may import.
ROOMS = {
    "definition": set(),
    "jobs": {"definition"},
    "trials": {"definition"},
    "launchers": set(),
    "loop": {"definition", "jobs", "trials"},
    # Replays a strategy as the sweep runs it: its definition reader, sampler and outcomes.
    "replay": {"definition", "trials"},
}

SCAN = """
import json, sys
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper

plugins = Plugins.instance()
store = ConfigStore.instance()
GROUPS = ("hydra/sweeper/sampler", "hydra/sweeper/pruner")
def names(kind):
    return sorted(f"{c.__module__}.{c.__name__}" for c in plugins.discover(kind))
print(json.dumps({
    "sweepers": names(Sweeper),
    "launchers": names(Launcher),
    "scanned": sorted(m for m in plugins.stats.modules_import_time if "freezesweep" in m),
    "loaded": sorted(m for m in ("optuna", "submitit", "sqlalchemy") if m in sys.modules),
    "groups": {g: store.list(g) for g in ("hydra/sweeper", *GROUPS)},
}))
"""


def _scan(tmp_path: Path) -> dict[str, object]:
    script = tmp_path / "scan.py"
    script.write_text(SCAN)
    done = run_script(tmp_path, script=script, timeout=120)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_scan_finds_the_sweeper_its_groups_and_the_launchers_without_loading_optuna(
    tmp_path: Path,
) -> None:
    found = _scan(tmp_path)
    # `hydra/sweeper: freezesweep` and the submitit launchers are found by discovery.
    assert f"{PLUGIN}.sweeper.FreezesweepSweeper" in found["sweepers"]  # type: ignore[operator]
    for launcher in ("LocalLauncher", "SlurmLauncher"):
        assert f"{PLUGIN}.launchers.submitit.{launcher}" in found["launchers"]  # type: ignore[operator]
    # The structured config and both config groups are registered by the scan.
    groups = found["groups"]
    assert isinstance(groups, dict)
    assert "freezesweep.yaml" in groups["hydra/sweeper"]
    assert {"tpe.yaml", "grid.yaml"} <= set(groups["hydra/sweeper/sampler"])
    assert {"median.yaml", "hyperband.yaml"} <= set(groups["hydra/sweeper/pruner"])
    # Discovery stays cheap: Optuna, submitit and SQLAlchemy load with the sweep, not the scan.
    assert found["loaded"] == []
    # The scan executes only the public modules: the rooms' modules are private (`_x.py`).
    rooms = {f"{PLUGIN}.{room}" for room in ROOMS}
    public = {f"{PLUGIN}.{name}" for name in ("sweeper", "config", "launchers.submitit")}
    assert set(found["scanned"]) == {PLUGIN, *rooms, *public}  # type: ignore[arg-type]


def _rooms_imported(path: Path) -> set[str]:
    """The plugin's rooms a module imports (relative imports, lazy ones included)."""
    room = path.parent.name
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PLUGIN):
            found.add(node.module.removeprefix(f"{PLUGIN}.").split(".")[0])
    return found - {room}


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_rooms_import_only_the_rooms_below_them(room: str) -> None:
    for path in sorted((PLUGIN_DIR / room).glob("*.py")):
        imported = _rooms_imported(path)
        # A room reaches only the rooms below it (no circles between rooms, no upward import).
        assert imported <= ROOMS[room], f"{path.name} imports {sorted(imported - ROOMS[room])}"


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_room_packages_run_nothing_when_the_scan_imports_them(room: str) -> None:
    tree = ast.parse((PLUGIN_DIR / room / "__init__.py").read_text())
    # The scan imports every package: a room's `__init__` is its docstring (its map) alone.
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr), room
