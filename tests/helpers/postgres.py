"""A fresh PostgreSQL database per test, on the server `FREEZESWEEP_TEST_POSTGRES_URL` names.

CI (.ci/run) starts a local server and sets the variable; on a laptop without one, the tests
that need it skip and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

VARIABLE = "FREEZESWEEP_TEST_POSTGRES_URL"


@contextmanager
def postgres_database(password: str | None = None) -> Iterator[str]:
    """Create a throw-away database; yield its SQLAlchemy URL (with `password` in it, if given).

    Args:
        password: a password to put in the URL (a trust-auth server ignores it). Defaults to
            `None`.
    """
    base = os.environ.get(VARIABLE)
    if not base:
        pytest.skip(f"{VARIABLE} is not set: no PostgreSQL server to test against")
    import psycopg

    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"freezesweep_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        database = url.set(database=name)
        if password is not None:
            database = database.set(password=password)
        yield database.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
