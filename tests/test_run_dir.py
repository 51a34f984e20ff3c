"""Tests for freezesweep.hydra_files' run-folder claim: a config error removes only what we made."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from freezesweep.hydra_files import RunDirClaim, remove_run_dir


def _start(run_dir: Path) -> None:
    """What Hydra does for a single run: our callback, then its own folder and files."""
    RunDirClaim().on_run_start(OmegaConf.create({"hydra": {"run": {"dir": str(run_dir)}}}))
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (run_dir / ".hydra" / name).write_text("{}\n")
    (run_dir / "sweep.log").write_text("")


def test_a_folder_this_run_created_is_removed_with_the_parents_it_created(tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    run_dir = tmp_path / "outputs" / "day" / "time"
    _start(run_dir)
    assert remove_run_dir(run_dir)
    # Gone up to the first folder that existed before; that one stays.
    assert not (tmp_path / "outputs" / "day").exists() and (tmp_path / "outputs").is_dir()


@pytest.mark.parametrize(
    "users_files",
    [
        ["notes.txt"],  # the example: the user's folder with their own file
        ["train.log"],  # a second variant: a file that looks like Hydra's own log
        [],  # an empty folder the user made is the user's too
        [".hydra/config.yaml"],  # an earlier run's Hydra files
    ],
)
def test_a_folder_that_existed_before_is_never_removed(
    tmp_path: Path, users_files: list[str]
) -> None:
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    for name in users_files:
        (run_dir / name).parent.mkdir(exist_ok=True)
        (run_dir / name).write_text("keep me")
    _start(run_dir)
    assert not remove_run_dir(run_dir)
    for name in users_files:
        assert (run_dir / name).exists()
    assert run_dir.is_dir()


@pytest.mark.parametrize("extra", ["model.keras", ".hydra/extra.yaml"])
def test_a_created_folder_holding_anything_else_is_kept(tmp_path: Path, extra: str) -> None:
    run_dir = tmp_path / "new"
    _start(run_dir)
    (run_dir / extra).write_text("x")
    assert not remove_run_dir(run_dir)
    assert (run_dir / extra).exists()


def test_a_parent_that_gained_a_file_meanwhile_stays(tmp_path: Path) -> None:
    run_dir = tmp_path / "a" / "b"
    _start(run_dir)
    (tmp_path / "a" / "user.txt").write_text("x")
    assert remove_run_dir(run_dir)
    assert (tmp_path / "a" / "user.txt").exists()
