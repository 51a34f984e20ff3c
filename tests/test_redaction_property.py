"""Property tests for freezesweep.redaction: no password SQLAlchemy or MLflow accepts survives."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from freezesweep.hydra_files import redacted
from freezesweep.redaction import MASK, redact, redact_mapping
from freezesweep.tracking._params import flatten

# Every printable character: SQLAlchemy's `make_url` takes any but `@` in a password (`/ # ? :
# % ; &`, spaces, quotes, any script); MLflow's HTTP URIs take `@` too, but not `/ ? #`.
_PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
_DATABASE_PASSWORDS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="@"), min_size=1
)
_HTTP_PASSWORDS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/?#"), min_size=1
)
_DB = "postgresql+psycopg://fs:{}@db.example:5432/optuna?sslmode=require"
_HTTP = "http://fs:{}@mlflow.example:5000"
# Key names of the documented list (docs/security.md), as the common clouds spell them.
SECRET_KEYS = [
    "password", "passwd", "db_pwd", "passphrase", "client_secret", "token", "api_key",
    "ssh_key", "storage_key", "AccountKey", "access_key", "AZURE_STORAGE_SAS_TOKEN", "sas",
    "private_key", "credential", "GOOGLE_APPLICATION_CREDENTIALS", "connection_string",
]  # fmt: skip


def _database_url(password: str) -> str:
    url = _DB.format(password)
    # Only what SQLAlchemy itself accepts as this URL, with the password where we put it.
    parsed = make_url(url)
    assume(parsed.host == "db.example" and parsed.username == "fs")
    return url


def _http_url(password: str) -> str:
    url = _HTTP.format(password)
    try:  # what urllib (so MLflow's HTTP client) parses, with the password where we put it
        parsed = urlsplit(url)
        accepted = parsed.hostname == "mlflow.example" and parsed.password == password
    except ValueError:  # "Invalid IPv6 URL" for a `[`: not a URL MLflow takes
        accepted = False
    assume(accepted)
    return url


@settings(max_examples=300, deadline=None)
@given(_DATABASE_PASSWORDS, _HTTP_PASSWORDS)
def test_no_accepted_password_survives_in_a_url(database: str, http: str) -> None:
    # The URL alone, and inside a line of text: the password is masked whole, the rest kept.
    assert redact(_database_url(database)) == _DB.format(MASK)
    assert redact(_http_url(http)) == _HTTP.format(MASK)
    line = f"cannot connect to {_database_url(database)} (OperationalError)"
    assert redact(line) == f"cannot connect to {_DB.format(MASK)} (OperationalError)"


def _config(database: str, http: str) -> dict[str, Any]:
    return {
        "hydra": {
            "sweeper": {"storage": _database_url(database)},
            "overrides": {"task": [f"hydra.sweeper.storage={_database_url(database)}"]},
        },
        "tracking": {"uri": _http_url(http), "env": {"MLFLOW_TRACKING_TOKEN": http}},
        "stores": [_database_url(database), {"uri": _http_url(http)}],
    }


@settings(max_examples=200, deadline=None)
@given(_DATABASE_PASSWORDS, _HTTP_PASSWORDS)
def test_no_accepted_password_survives_in_a_config_or_mlflow_params(
    database: str, http: str
) -> None:
    # Nested mappings (the saved YAML files) and the flattened MLflow params: no value keeps it.
    config = _config(database, http)
    expected = {
        "hydra": {
            "sweeper": {"storage": _DB.format(MASK)},
            "overrides": {"task": [f"hydra.sweeper.storage={_DB.format(MASK)}"]},
        },
        "tracking": {"uri": _HTTP.format(MASK), "env": {"MLFLOW_TRACKING_TOKEN": MASK}},
        "stores": [_DB.format(MASK), {"uri": _HTTP.format(MASK)}],
    }
    assert redact_mapping(config) == expected
    assert redacted(config) == expected
    flat = flatten(config)
    # A list of strings is one param, its repr: quoted by what the password held, then masked.
    override = f"hydra.sweeper.storage={_DB.format(MASK)}"
    assert flat.pop("hydra.overrides.task") in (f"['{override}']", f'["{override}"]')
    assert flat == {
        "hydra.sweeper.storage": _DB.format(MASK),
        "tracking.uri": _HTTP.format(MASK),
        "tracking.env.MLFLOW_TRACKING_TOKEN": MASK,
        "stores.0": _DB.format(MASK),
        "stores.1.uri": _HTTP.format(MASK),
    }


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SECRET_KEYS), st.text(_PRINTABLE, min_size=1))
def test_every_documented_key_name_masks_its_value(key: str, value: str) -> None:
    assert redact_mapping({"cloud": {key: value}}) == {"cloud": {key: MASK}}
    assert flatten({"cloud": {key: value}}) == {f"cloud.{key}": MASK}


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
        min_size=8,
    )
)
def test_an_azure_connection_string_loses_its_account_key(key: str) -> None:
    text = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=x.net"
    assert redact(text) == (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={MASK};EndpointSuffix=x.net"
    )
