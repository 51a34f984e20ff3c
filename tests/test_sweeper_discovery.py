"""Hydra's plugin scan finds the sweeper, its config groups and the launchers, and stays cheap."""

from __future__ import annotations

import json
from pathlib import Path

from tests.app_process import run_script

PLUGIN = "hydra_plugins.freezesweep_sweeper"

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
    rooms = {f"{PLUGIN}.{room}" for room in ("definition", "jobs", "trials", "launchers", "loop")}
    public = {f"{PLUGIN}.{name}" for name in ("sweeper", "config", "launchers.submitit")}
    assert set(found["scanned"]) == {PLUGIN, *rooms, *public}  # type: ignore[arg-type]
