"""What P9 and P10 share: a study storage made for the benchmark, and a simulated sweep.

A simulated sweep (`trainer.simulate=surface`) runs the real `python sweep.py -m` (sweeper,
storage, pruner, MLflow, report hooks) with no training, so all its time is the framework's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A PostgreSQL server the benchmark may create (and drop) a database on, e.g.
# postgresql://postgres@127.0.0.1:5432/postgres; without it the PostgreSQL pairs are skipped.
POSTGRES_VARIABLE = "FREEZESWEEP_BENCH_POSTGRES_URL"
STORAGES = ("sqlite", "postgres", "journal")


@contextmanager
def study_storage(kind: str, folder: Path) -> Iterator[str]:
    """A fresh, empty study storage of `kind` (one of `STORAGES`); a PostgreSQL database is
    created on the server `$FREEZESWEEP_BENCH_POSTGRES_URL` names and dropped afterwards.

    Raises:
        LookupError: `postgres` without the variable set.
    """
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'optuna.db'}"
        return
    if kind == "journal":
        yield f"journal:{folder / 'optuna.journal'}"
        return
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        raise LookupError(f"{POSTGRES_VARIABLE} is not set: no PostgreSQL server to measure on")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"freezesweep_bench_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        database = url.set(drivername="postgresql+psycopg", database=name)
        yield database.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def simulated_sweep_args(
    config_dir: Path, folder: Path, storage: str, n_trials: int, *extra: str
) -> list[str]:
    """`sweep.py -m` arguments of a simulated sweep named `bench` in `folder`: the default
    sweep's search space, sampler and pruner; MLflow in `folder/mlflow.db`; no models logged."""
    return [
        str(config_dir.resolve().parent / "sweep.py"), "-m",
        "trainer.simulate=surface", "trainer.log_model=none",
        f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.study_name=bench",
        f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={folder / 'sweep'}",
        f"tracking.default_uri=sqlite:///{folder / 'mlflow.db'}",
        *extra,
    ]  # fmt: skip


def probe_sweep(folder: Path, arguments: Sequence[str], name: str) -> dict[str, Any]:
    """Run `python sweep.py ARGS` under P5's probe (`_framework_probe`); return its clocks.

    Raises:
        RuntimeError: the sweep failed (its last lines of stderr).
    """
    clocks = folder / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "freezesweep.bench._framework_probe", str(clocks), *arguments],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the simulated sweep failed: {done.stderr[-2000:]}")
    record: dict[str, Any] = json.loads(clocks.read_text())
    return record
