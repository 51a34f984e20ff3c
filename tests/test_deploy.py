"""deploy/: the SLURM array and cron scripts parse, and use only overrides the config accepts."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.shrink import ROOT, compose_config

SCRIPTS = [ROOT / "deploy" / "slurm_array.sh", ROOT / "deploy" / "cron_nightly.sh"]


def sweep_overrides(script: Path) -> list[str]:
    """The overrides on the script's `python sweep.py -m` lines (quotes and shell vars removed)."""
    text = script.read_text()
    block = text[text.rindex("python sweep.py -m") :].split("\n\n")[0]
    found = re.findall(r"""['"]?((?:hydra|tracking)\.[\w.]+=[^\s'"\\]+)['"]?""", block)
    return [override.replace("${total}", "16") for override in found]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_parse_and_their_overrides_compose(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    overrides = sweep_overrides(script)
    assert any(
        o.startswith("hydra.sweeper.storage=${oc.env:FREEZESWEEP_STORAGE}") for o in overrides
    )
    monkeypatch.setenv("FREEZESWEEP_STORAGE", f"journal:{tmp_path}/optuna.log")
    cfg = compose_config(tmp_path, *overrides, return_hydra_config=True)
    assert cfg.hydra.sweeper.storage == f"journal:{tmp_path}/optuna.log"
    assert cfg.hydra.sweeper.study_name == "nightly"
    assert isinstance(cfg.hydra.sweeper.n_trials, int)


def test_cron_total_grows_by_the_nightly_share() -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    environment = dict(os.environ, FIRST_NIGHT=today, PER_NIGHT="5")
    total = subprocess.run(
        [str(SCRIPTS[1]), "--total"], env=environment, capture_output=True, text=True, check=True
    )
    assert total.stdout.strip() == "5"
