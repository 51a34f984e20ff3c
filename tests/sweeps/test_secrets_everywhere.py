"""A password-bearing single run and sweep leave no secret in any file they write or print.

Real trials (shrunken) through the real `python sweep.py`, with secrets in the forms redaction
must know: a URL's userinfo password holding `@`, one holding `/`, `#` and a space (SQLAlchemy
takes them), secret query parameters, a signed URL, and a value under a secret-looking key.
Every file under the working directory (Hydra's saved configs, logs, the MLflow store and its
artifacts, the Optuna database, the report) is read as bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.processes import Completed, run_script

pytestmark = pytest.mark.slow

SECRETS = ("Pa55@wordX", "SslSecretY", "SigSecretZ", "AwsSecretW", "Sl/ashK#HashQ sp")
# Pieces of the `/`-`#`-space password: a redaction that stops at `/`, `#` or the space shows one.
PIECES = ("Sl/ashK", "HashQ sp", "#HashQ")
OVERRIDES = [
    # Quoted, as Hydra's grammar needs for a value holding `=`.
    f"+notes.database='postgresql://fs:{SECRETS[0]}@db.example.org/optuna?sslpassword={SECRETS[1]}'",
    f"+notes.artifact='https://s3.example.org/k?X-Amz-Signature={SECRETS[2]}&X-Amz-Expires=60'",
    f"+notes.AWS_SECRET_ACCESS_KEY={SECRETS[3]}",
    f"+notes.storage='postgresql+psycopg://fs:{SECRETS[4]}@db.example.org:5432/optuna'",
    "schedule.stages.0.epochs=1",
    "schedule.stages.1.epochs=1",
    "data.train_per_class=5",
    "trainer.verbose=0",
]


def _run(work: Path, *arguments: str) -> Completed:
    return run_script(work, *arguments)


def _leaks(work: Path, process: Completed) -> list[str]:
    output = process.stdout + process.stderr
    found = [f"<output>: {s}" for s in (*SECRETS, *PIECES) if s in output]
    for path in sorted(work.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in (*SECRETS, *PIECES) if s.encode() in data]
    return found


def test_a_single_run_writes_no_secret(tmp_path: Path) -> None:
    process = _run(tmp_path, *OVERRIDES)
    assert process.returncode == 0, process.stderr[-3000:]
    # The run wrote its saved configs and its MLflow store, and no secret in either.
    assert list(tmp_path.glob("outputs/*/*/.hydra/config.yaml"))
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert _leaks(tmp_path, process) == []


def test_a_sweep_writes_no_secret(tmp_path: Path) -> None:
    process = _run(
        tmp_path,
        "-m",
        *OVERRIDES,
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.enqueue=[]",
        "hydra.sweeper.params={finetune.top_k: 'choice(1)'}",
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert list(tmp_path.glob("sweeps/top_k_lr/trial-0000/.hydra/config.yaml"))
    assert (tmp_path / "sweeps" / "top_k_lr" / "multirun.yaml").is_file()
    assert _leaks(tmp_path, process) == []
