"""P10: trials per minute of 16 worker processes on one study against one worker.

Each worker is a real `python sweep.py -m` of a simulated sweep (`trainer.simulate=surface`
with `trainer.simulate_seconds` standing in for training), all started together on one study
(PostgreSQL, or a journal file) and one MLflow store. The rate is taken over what each side
finished after its first round (a worker's first trial carries its start: Python, TensorFlow,
Hydra). The pair fails, instead of printing a ratio, when the study does not hold exactly
`n_trials` finished trials, holds a RUNNING one, holds one parameter set twice, or when a
trial has not exactly one ended MLflow run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from freezesweep.bench._common import PairResult
from freezesweep.bench._study_sweeps import simulated_sweep_args, study_storage
from freezesweep.study.own_trials import own_trials


@dataclass(frozen=True)
class Side:
    """One side of the pair: its workers, trials and what it finished per minute."""

    workers: int
    n_trials: int
    per_minute: float


def p10_many_workers(
    config_dir: Path, quick: bool, repeats: int, *, storage: str = "postgres"
) -> PairResult:
    """Trials per minute with 16 workers (4 with `quick`) / with one (see the module)."""
    del repeats  # one run of each side: the 16-worker side alone takes minutes
    workers, seconds = (4, 1.0) if quick else (16, 10.0)
    rounds = 2 if quick else 6
    name = "P10" if storage == "postgres" else f"P10-{storage}"
    with tempfile.TemporaryDirectory() as text, contextlib.ExitStack() as stack:
        sides = []
        for count, n_trials in ((workers, workers * rounds), (1, rounds + 2)):
            folder = Path(text) / f"workers{count}"
            folder.mkdir()
            try:
                url = stack.enter_context(study_storage(storage, folder))
            except LookupError as error:
                return PairResult(name, f"skipped: {error}", (float("nan"),))
            sides.append(run_workers(config_dir, folder, url, count, n_trials, seconds))
    many, one = sides
    return PairResult(
        name,
        f"{many.workers} workers / 1 on one {storage} study, trials per minute "
        f"(simulated trials of {seconds:g} s)",
        (many.per_minute / one.per_minute,),
        f"{many.per_minute:.1f} vs {one.per_minute:.1f} trials/min; {many.n_trials} and "
        f"{one.n_trials} trials, each exactly once in the study and in MLflow, none RUNNING",
    )


def run_workers(
    config_dir: Path, folder: Path, url: str, workers: int, n_trials: int, seconds: float
) -> Side:
    """`workers` simulated sweeps started together on `url` to `n_trials`; checked, and rated.

    Raises:
        RuntimeError: a worker failed, or the study or MLflow is not exactly right.
    """
    arguments = simulated_sweep_args(
        config_dir, folder, url, n_trials, f"trainer.simulate_seconds={seconds}"
    )
    environment = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    processes = [
        subprocess.Popen(
            [sys.executable, *arguments],
            cwd=folder,
            env=environment,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    failures = [
        (process.returncode, stderr[-2000:])
        for process in processes
        for _, stderr in [process.communicate()]
        if process.returncode != 0
    ]
    if failures:
        raise RuntimeError(f"P10: a worker failed: {failures[0]}")
    study = optuna.load_study(study_name="bench", storage=_storage(url))
    finished = check_study(study, n_trials)
    check_runs(folder, finished)
    ends = sorted(t.datetime_complete.timestamp() for t in own_trials(study) if t.datetime_complete)
    span = ends[-1] - ends[workers - 1]
    return Side(workers, n_trials, 60 * (len(ends) - workers) / span)


def _start(
    arguments: list[str], folder: Path, environment: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *arguments],
        cwd=folder,
        env=environment,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _storage(url: str) -> optuna.storages.BaseStorage:
    from freezesweep.study.storage import open_storage

    return open_storage(url)


def check_study(study: optuna.Study, n_trials: int) -> list[int]:
    """The finished trials' numbers, when exactly `n_trials` finished, none is RUNNING and no
    parameter set was run twice.

    Raises:
        RuntimeError: saying which of these does not hold.
    """
    trials = own_trials(study)
    finished = [t for t in trials if t.state.is_finished()]
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    sets = {tuple(sorted(t.params.items())) for t in finished}
    if len(finished) != n_trials or running or len(sets) != len(finished):
        raise RuntimeError(
            f"P10: {len(finished)} finished trials of {n_trials}, RUNNING {running}, "
            f"{len(finished) - len(sets)} parameter set(s) run twice"
        )
    return [t.number for t in finished]


def check_runs(folder: Path, numbers: list[int]) -> None:
    """Each finished trial has exactly one MLflow run, ended; no other trial has one.

    Raises:
        RuntimeError: naming the trials whose runs are missing, doubled or still RUNNING.
    """
    from freezesweep import tracking
    from freezesweep.spec import TrackingSpec

    spec = TrackingSpec(True, f"sqlite:///{folder / 'mlflow.db'}", "", "bench")
    statuses = tracking.trial_run_statuses(spec, "bench")
    wrong = {
        number: statuses.get(number, [])
        for number in set(numbers) | set(statuses)
        if len(statuses.get(number, [])) != 1 or statuses[number][0] == "RUNNING"
        or number not in numbers
    }  # fmt: skip
    if wrong:
        raise RuntimeError(f"P10: trial runs not exactly one each, ended: {wrong}")
