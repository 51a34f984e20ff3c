"""Where a study lives: one URL names any Optuna storage, for the sweeper, its jobs and the CLI.

- Any SQLAlchemy URL Optuna's RDB storage takes: `postgresql+psycopg://user@host/db`,
  `mysql+pymysql://...`, `sqlite:///sweeps/optuna.db` (one machine only).
- `journal:PATH`: Optuna's journal file storage, for a shared file system without a database
  server. Its lock is a hard link (`JournalFileSymlinkLock`), which works on NFS v2 and later.

Relative paths are made absolute, since jobs may run in another directory. Passwords are never
printed: use `redact(url)` in any message.

Optuna only: no Hydra, no MLflow.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from sqlalchemy.engine import make_url

from freezesweep.errors import ConfigError
from freezesweep.redaction import redact
from freezesweep.study.attributes import WORKERS_SUFFIX
from freezesweep.writable import check_writable

__all__ = [
    "JOURNAL_PREFIX",
    "check_storage",
    "file_exists",
    "is_sqlite",
    "load_existing_study",
    "normalize_storage_url",
    "open_storage",
]

JOURNAL_PREFIX = "journal:"
# Seconds an SQLite writer waits for another process's lock before failing, instead of
# SQLite's default of 5 s (several workers on one machine, each with its jobs).
_SQLITE_BUSY_TIMEOUT_S = 120
_CREATE_ATTEMPTS = 5


def normalize_storage_url(url: Any, key: str = "hydra.sweeper.storage") -> str:
    """Checks a storage URL and makes its file path absolute.

    Args:
        url: `journal:PATH` or an SQLAlchemy database URL.
        key: the config key named in errors. Defaults to `"hydra.sweeper.storage"`.

    Returns:
        The URL, with a relative SQLite or journal path made absolute.

    Raises:
        ValueError: not a string, not a database URL, or an in-memory SQLite database.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{key} must be an Optuna RDB URL or journal:PATH; got {_shown(url)!r}.")
    if url.startswith(JOURNAL_PREFIX):
        path = url.removeprefix(JOURNAL_PREFIX)
        if not path:
            raise ValueError(f"{key}: journal: needs a file path, e.g. journal:sweeps/optuna.log.")
        return JOURNAL_PREFIX + os.path.abspath(path)
    try:
        parsed = make_url(url)
    except Exception as error:
        raise ValueError(
            f"{key}: {redact(url)!r} is neither a database URL nor journal:PATH."
        ) from error
    if parsed.get_backend_name() != "sqlite":
        return url
    if parsed.database in (None, "", ":memory:"):
        raise ValueError(
            f"{key}: an in-memory SQLite database cannot be shared with the jobs; "
            "use a file, e.g. sqlite:///sweeps/optuna.db."
        )
    assert parsed.database is not None
    return parsed.set(database=os.path.abspath(parsed.database)).render_as_string(
        hide_password=False
    )


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage a (normalized) URL names, creating a local file's folder.

    Args:
        url: as returned by `normalize_storage_url`.
    """
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX))
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = JournalFileBackend(str(path), lock_obj=JournalFileSymlinkLock(str(path)))
        return optuna.storages.JournalStorage(backend)
    parsed = make_url(url)
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
    else:
        # A server that restarted (or a connection a firewall dropped) is reconnected, not fatal.
        engine_kwargs["pool_pre_ping"] = True
    # Workers that start together on a new database all create Optuna's tables and version row;
    # the losers of that race fail with an integrity error and find the tables on a retry.
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def check_storage(url: str, key: str = "hydra.sweeper.storage", *, timeout_s: int = 5) -> None:
    """Whether a (normalized) storage can be used, checked without creating anything.

    A local file (SQLite, journal) must be writable or creatable; a database server must accept
    a connection within `timeout_s`. Called before the study is opened, so a read-only file, an
    impossible folder or a server that is down is one line naming the setting.

    Args:
        url: as returned by `normalize_storage_url`.
        key: the setting named in errors. Defaults to `"hydra.sweeper.storage"`.
        timeout_s: seconds to wait for a database server. Defaults to `5`.

    Raises:
        ConfigError: naming `key`, the (redacted) URL and the cause.
    """
    if url.startswith(JOURNAL_PREFIX):
        check_writable(Path(url.removeprefix(JOURNAL_PREFIX)), key)
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        check_writable(Path(parsed.database), key)
        return
    # The drivers of PostgreSQL and MySQL take a connect timeout; others get their default.
    timeout = parsed.get_backend_name() in ("postgresql", "mysql")
    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": timeout_s} if timeout else {}
        )
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
        raise ConfigError(
            f"{key}: cannot connect to {redact(url)} ({type(error).__name__}: {redact(cause[0])})."
        ) from None


def file_exists(url: str) -> bool:
    """Whether a (normalized) storage's file exists; always True for a database server.

    Opening a storage creates its file (and Optuna's tables): whoever only reads a study that may
    not exist yet asks this first.
    """
    if url.startswith(JOURNAL_PREFIX):
        return Path(url.removeprefix(JOURNAL_PREFIX)).is_file()
    parsed = make_url(url)
    return parsed.get_backend_name() != "sqlite" or Path(str(parsed.database)).is_file()


def load_existing_study(url: str, study_name: str, key: str) -> optuna.Study:
    """A study that must already exist, read without creating a file, a table or a study.

    Args:
        url: a normalized storage URL.
        study_name: the study.
        key: the setting that names it, for errors (e.g. `hydra.sweeper.warm_start`).

    Raises:
        ConfigError: naming `key`, the study and the (redacted) URL: no such file or study, or
            one that cannot be read (a file that is no Optuna storage, a server that is down).
    """
    where = f"{key}: study '{study_name}'"
    if not file_exists(url):
        raise ConfigError(f"{where}: {redact(url)} does not exist.")
    try:
        storage = (
            open_storage(url)
            if url.startswith(JOURNAL_PREFIX)
            else optuna.storages.RDBStorage(url, skip_table_creation=True)
        )
        names = [study.study_name for study in storage.get_all_studies()]
    except Exception as error:
        # Optuna wraps SQLAlchemy's error in its own ("invalid data in the commit"): the root
        # cause says what is wrong with the file or the server.
        while error.__cause__ is not None or error.__context__ is not None:
            error = error.__cause__ or error.__context__  # type: ignore[assignment]
        cause = str(error).strip().splitlines() or [type(error).__name__]
        raise ConfigError(f"{where} in {redact(url)} cannot be read: {redact(cause[0])}") from None
    if study_name not in names:
        raise ConfigError(f"{where} in {redact(url)} does not exist.")
    return optuna.load_study(study_name=study_name, storage=storage)


def is_sqlite(url: str) -> bool:
    """Whether the URL is an SQLite database (a single machine's storage)."""
    return not url.startswith(JOURNAL_PREFIX) and make_url(url).get_backend_name() == "sqlite"


def _shown(value: Any) -> Any:
    """A value as an error message may show it: strings redacted."""
    return redact(value) if isinstance(value, str) else value


def hide_internal_studies(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """`storage`, listing no `<study>:workers` side study (what optuna-dashboard lists).

    The side studies stay in the storage (the sweeper numbers its invocations there); only
    `get_all_studies` leaves them out, so the dashboard's study list shows users' studies.

    Args:
        storage: an opened storage (`open_storage`).
    """
    listed = storage.get_all_studies

    def users_studies() -> list[Any]:  # FrozenStudy, which optuna does not export
        return [study for study in listed() if not study.study_name.endswith(WORKERS_SUFFIX)]

    storage.get_all_studies = users_studies  # type: ignore[method-assign]
    return storage
