"""Disk full while a trial writes its audit, artifacts or feature cache (a real small tmpfs): the
trial fails with the reason, no partial file stays, Optuna and MLflow agree, nothing RUNNING."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from freezesweep.disk import writing
from freezesweep.errors import ConfigError, DiskFull
from freezesweep.study.attributes import FAIL_REASON_ATTR
from freezesweep.trial import run_trial
from tests.helpers.app_inprocess import run_app
from tests.helpers.mounts import tmpfs
from tests.helpers.shrink import compose_config, small_overrides

_FULL = {"filler": b"\0" * 64 * 1024}  # fills a 64k tmpfs: any further byte is ENOSPC


@pytest.mark.timeout(60)
def test_writing_removes_the_partial_file_and_names_what_did_not_fit(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", size="64k") as mount:
        target = mount / "big.json"
        with pytest.raises(DiskFull) as error, writing(target, "the freeze audit"):
            target.write_bytes(b"x" * 200 * 1024)
        # The reason names what and where; the truncated file is gone.
        assert str(error.value) == (
            f"disk full writing the freeze audit to {target} (No space left on device)"
        )
        assert not target.exists()


@pytest.mark.parametrize(
    ("name", "what", "dangling"),
    [("model.keras", "the model", False), ("freeze_audit.json", "the freeze audit", True)],
)
def test_an_output_is_never_written_through_a_link(
    tmp_path: Path, name: str, what: str, dangling: bool
) -> None:
    # A link under an output's name: refused in one line; the link and its target stay as they were.
    target = tmp_path / "elsewhere" / "precious"
    target.parent.mkdir()
    if not dangling:
        target.write_text("the user's")
    (tmp_path / "run").mkdir()
    link = tmp_path / "run" / name
    link.symlink_to(target)
    with pytest.raises(ConfigError) as error, writing(link, what):
        link.write_text("ours")
    assert str(error.value) == (
        f"{link} ({what}) is a symbolic link; freezesweep never writes through a link: remove "
        "it, or set hydra.run.dir to a folder of its own."
    )
    assert link.is_symlink() and (target.read_text() == "the user's" if not dangling else True)
    assert dangling is not target.exists()


def _runs(tmp_path: Path) -> list[object]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.timeout(300)
def test_full_disk_for_the_audit_or_the_artifacts_fails_the_trial(tmp_path: Path) -> None:
    # The audit: the trial's folder is a full tmpfs.
    with tmpfs(tmp_path / "out", size="64k", files=_FULL) as out:
        config = compose_config(tmp_path, "trainer.feature_cache=off")
        with pytest.raises(DiskFull) as error:
            run_trial(config, output_dir=out)
        assert str(error.value) == (
            f"disk full writing the freeze audit to {out}/freeze_audit.json (No space left on "
            "device)"
        )
        assert sorted(p.name for p in out.iterdir()) == ["filler"]
    # The artifacts: MLflow's artifact root is a full tmpfs.
    with tmpfs(tmp_path / "artifacts", size="64k", files=_FULL) as artifacts:
        # A new experiment: an existing one keeps the artifact root it was created with.
        config = compose_config(
            tmp_path, f"tracking.artifact_root={artifacts}", "tracking.experiment=full"
        )
        with pytest.raises(DiskFull) as error:
            run_trial(config, output_dir=tmp_path / "job")
        assert str(error.value).startswith("disk full writing MLflow artifact config.yaml to ")
        assert sorted(p.name for p in artifacts.rglob("*") if p.is_file()) == ["filler"]
    # MLflow: both runs FAILED with the reason; none RUNNING.
    runs = _runs(tmp_path)
    assert len(runs) == 2
    assert all(run.info.status == "FAILED" for run in runs)  # type: ignore[attr-defined]
    assert all(
        run.data.tags["freezesweep.error"].startswith("DiskFull: disk full writing")  # type: ignore[attr-defined]
        for run in runs
    )


@pytest.mark.slow  # a real sweep, ~20 s
@pytest.mark.timeout(300)
def test_full_disk_for_the_feature_cache_fails_the_sweep_trial(tmp_path: Path) -> None:
    # A sweep whose feature cache (sweeps/<study>/cache) lies on a full tmpfs.
    sweep_dir = tmp_path / "sweeps" / "full"
    storage = f"sqlite:///{tmp_path}/optuna.db"
    with tmpfs(sweep_dir / "cache", size="64k", files=_FULL) as cache:
        finished = run_app(
            tmp_path,
            "-m",
            *small_overrides(tmp_path),
            "hydra.sweeper.study_name=full",
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.sweeper.storage={storage}",
            "hydra.sweeper.n_trials=1",
            "hydra.sweeper.enqueue=[]",
            "hydra.sweeper.max_failure_rate=1.0",
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        # No partial cache entry left beside the filler.
        assert sorted(p.name for p in cache.iterdir()) == ["filler"]
    (trial,) = optuna.load_study(study_name="full", storage=storage).trials
    assert trial.state == TrialState.FAIL
    reason = trial.user_attrs[FAIL_REASON_ATTR]
    assert reason.startswith(f"DiskFull: disk full writing the feature cache to {cache}/")
    assert reason.endswith(".npz (No space left on device)")
    # MLflow agrees with Optuna: the trial's run FAILED with the same reason; nothing RUNNING.
    runs = _runs(tmp_path)
    (child,) = [run for run in runs if run.info.run_name == "trial-0000"]  # type: ignore[attr-defined]
    assert child.info.status == "FAILED"  # type: ignore[attr-defined]
    assert child.data.tags["freezesweep.error"] == reason  # type: ignore[attr-defined]
    assert all(run.info.status != "RUNNING" for run in runs)  # type: ignore[attr-defined]
    assert not optuna.load_study(study_name="full", storage=storage).get_trials(
        states=(TrialState.RUNNING,)
    )
