"""deploy/: the SLURM array and cron scripts parse, and use only overrides the config accepts."""

from __future__ import annotations

import os
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from freezesweep.study.storage import open_storage
from hydra_plugins.freezesweep_sweeper.trials._shared_study import count_trials
from tests.helpers.checkout import clean_checkout
from tests.helpers.processes import run
from tests.helpers.shrink import ROOT, compose_config

SCRIPTS = [ROOT / "deploy" / "slurm_array.sh", ROOT / "deploy" / "cron_nightly.sh"]
# The crontab line (docs/cluster.md, deploy/cron_nightly.sh) after `cd /path/to/freezesweep &&`.
CRON_LINE = "mkdir -p logs && deploy/cron_nightly.sh"
# docs/cluster.md's sbatch options for a CPU-only partition (the slurm tier passes its own sizes).
CPU_OPTIONS = ["--gpus-per-task=0", "--cpus-per-task=4", "--mem=8G"]
SMALL = [
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "data.train_per_class=5",
    "trainer.verbose=0",
]


def sweep_overrides(script: Path) -> list[str]:
    """The overrides on the script's `python sweep.py -m` lines (quotes and shell vars removed)."""
    text = script.read_text()
    block = text[text.rindex("python sweep.py -m") :].split("\n\n")[0]
    found = re.findall(r"""['"]?((?:hydra|tracking)\.[\w.]+=[^\s'"\\]+)['"]?""", block)
    return [
        override.replace("${total}", "16").replace("${STUDY_NAME}", "nightly") for override in found
    ]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_parse_and_their_overrides_compose(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["bash", "-n", script], check=True)
    overrides = sweep_overrides(script)
    assert any(
        o.startswith("hydra.sweeper.storage=${oc.env:FREEZESWEEP_STORAGE}") for o in overrides
    )
    monkeypatch.setenv("FREEZESWEEP_STORAGE", f"journal:{tmp_path}/optuna.log")
    cfg = compose_config(tmp_path, *overrides, return_hydra_config=True)
    assert cfg.hydra.sweeper.storage == f"journal:{tmp_path}/optuna.log"
    assert cfg.hydra.sweeper.study_name == "nightly"
    assert isinstance(cfg.hydra.sweeper.n_trials, int)


def test_the_cluster_page_shows_the_commands_the_tests_run() -> None:
    # The crontab line and the CPU-node array command are the ones tested (here and in the
    # slurm tier); the cron script's own comment shows the same line.
    line = f"cd /path/to/freezesweep && {CRON_LINE} >> logs/cron.log 2>&1"
    page = (ROOT / "docs" / "cluster.md").read_text()
    assert line in page
    assert line in SCRIPTS[1].read_text()
    cpu = " ".join(["sbatch", "--array=0-3", *CPU_OPTIONS, "deploy/slurm_array.sh"])
    assert cpu in page and cpu in SCRIPTS[0].read_text()
    assert "hydra.launcher.gpus_per_task=null" in page


def cron_environment(tmp_path: Path, per_night: int, today: date | None = None) -> dict[str, str]:
    """The cron job's environment: its env file (journal study, SQLite MLflow store), this
    Python first on PATH, a simulated date when `today` is given."""
    env_file = tmp_path / "freezesweep.env"
    env_file.write_text(
        f"FREEZESWEEP_STORAGE=journal:{tmp_path}/shared/optuna.log\n"
        f"MLFLOW_TRACKING_URI=sqlite:///{tmp_path}/shared/mlflow.db\n"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("TODAY", "PER_NIGHT")}
    environment.update(
        FREEZESWEEP_ENV_FILE=str(env_file),
        PER_NIGHT=str(per_night),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PYTHONPATH=str(ROOT / "src"),
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    if today is not None:
        environment["TODAY"] = today.isoformat()
    return environment


def test_cron_total_of_a_new_study_is_one_night_whatever_the_date(tmp_path: Path) -> None:
    # No date written into the script: a study that does not exist yet starts at PER_NIGHT,
    # today as on any day, and asking does not create it.
    for today in (None, date(2031, 5, 17)):
        total = run(
            [SCRIPTS[1], "--total"], cwd=ROOT, env=cron_environment(tmp_path, 5, today), check=True
        )
        assert total.stdout == "5\n", total.stderr
    assert not (tmp_path / "shared" / "optuna.log").exists() or not optuna.get_all_study_names(
        open_storage(f"journal:{tmp_path}/shared/optuna.log")
    )


@pytest.mark.slow
def test_cron_line_on_two_nights_raises_the_total_from_the_study_first_night(
    tmp_path: Path,
) -> None:
    # docs/cluster.md's crontab line, run on a fresh checkout on two (simulated) nights with tiny
    # trials: night 1 runs PER_NIGHT=2 trials, night 2 raises the study total to 4, counted from
    # the date of the study's own first trial (recorded in the study), not a fixed date.
    checkout = clean_checkout(tmp_path / "checkout")
    assert not (checkout / "sweeps" / "optuna.db").exists()
    small = " ".join(SMALL)
    line = f"cd {checkout} && {CRON_LINE} {small} >> logs/cron.log 2>&1"
    storage = f"journal:{tmp_path}/shared/optuna.log"
    first = date.today()
    for night, today in enumerate((None, first + timedelta(days=1)), start=1):
        ran = run(["bash", "-c", line], env=cron_environment(tmp_path, 2, today), timeout=400)
        log = (checkout / "logs" / "cron.log").read_text()
        assert ran.returncode == 0, log
        assert f"night {night} since {first.isoformat()}: study total {2 * night}" in log, log
        study = optuna.load_study(study_name="nightly", storage=open_storage(storage))
        assert count_trials(study).finished == 2 * night
        assert all(t.state == TrialState.COMPLETE for t in study.trials)
        assert study.user_attrs.get("nightly:first_night") == (
            None if night == 1 else first.isoformat()
        )
    # A third night asked later still counts from the recorded first night.
    total = run(
        [checkout / "deploy" / "cron_nightly.sh", "--total"],
        cwd=checkout,
        env=cron_environment(tmp_path, 2, first + timedelta(days=9)),
        check=True,
    )
    assert total.stdout == "20\n"
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/shared/mlflow.db")
    experiment = client.get_experiment_by_name("nightly")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert runs and all(run.info.status != "RUNNING" for run in runs)
