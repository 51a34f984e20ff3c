"""Tests for freezesweep.redaction: the one function that hides secrets everywhere."""

from __future__ import annotations

import pytest

from freezesweep.redaction import has_secret, is_secret_key, redact, redact_mapping


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://fs:pw@db:5432/optuna", "postgresql://fs:***@db:5432/optuna"),
        # A password holding '@' is hidden whole, not just up to its first '@'.
        ("postgresql://fs:p@ss@db/optuna", "postgresql://fs:***@db/optuna"),
        ("mysql+pymysql://u:p%40x@h/db", "mysql+pymysql://u:***@h/db"),
        # A bare token as an HTTP userinfo; a bare database user name is no secret.
        ("https://ghp_TOKEN@example.com/x", "https://***@example.com/x"),
        (
            "postgresql://postgres@127.0.0.1:5432/postgres",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        ),
        # Query-string secrets; other parameters stay readable.
        (
            "postgresql://db/optuna?sslmode=require&sslpassword=s3&password=p",
            "postgresql://db/optuna?sslmode=require&sslpassword=***&password=***",
        ),
        ("http://mlflow:5000/?token=abc", "http://mlflow:5000/?token=***"),
        (
            "s3://b/k?X-Amz-Credential=AK&X-Amz-Signature=f00&X-Amz-Expires=60",
            "s3://b/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
        ),
        (
            "error at http://u:pw@host:5000/api: refused",
            "error at http://u:***@host:5000/api: refused",
        ),
        # A free-standing override or environment assignment with a secret-looking name.
        (
            "#0 : finetune.lr=0.1 +env.AWS_SECRET_ACCESS_KEY=abc tracking.experiment=x",
            "#0 : finetune.lr=0.1 +env.AWS_SECRET_ACCESS_KEY=*** tracking.experiment=x",
        ),
        ("author=me,api_key=k", "author=me,api_key=***"),
        # Passwords with `/`, `#`, `?`, `:`, `%`, spaces (SQLAlchemy takes them): masked whole.
        ("postgresql://fs:a/b#c@db/optuna", "postgresql://fs:***@db/optuna"),
        ("mysql://u:x?y:z%q@h:3306/db", "mysql://u:***@h:3306/db"),
        ("error: postgresql://fs:two words@db/o (x)", "error: postgresql://fs:***@db/o (x)"),
        # An Azure connection string's key; a SAS token in a query string.
        (
            "AccountName=a;AccountKey=k/+9==;EndpointSuffix=core.windows.net",
            "AccountName=a;AccountKey=***;EndpointSuffix=core.windows.net",
        ),
        (
            "https://a.blob.core.windows.net/c?sv=1&sig=x/y%3D",
            "https://a.blob.core.windows.net/c?sv=1&sig=***",
        ),
        # No userinfo: a URL with a port stays as it is.
        ("http://127.0.0.1:5000/#/experiments/1", "http://127.0.0.1:5000/#/experiments/1"),
        ("sqlite:///sweeps/optuna.db", "sqlite:///sweeps/optuna.db"),
        ("journal:/shared/optuna.log", "journal:/shared/optuna.log"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    # has_secret says whether redact changes anything.
    assert has_secret(text) == (text != expected)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "AWS_SECRET_ACCESS_KEY",
        "apikey",
        "api-key",
        "api_key",
        "private_key",
        "credentials",
        "pwd",
        "auth",
        "access_key",
        "token",
        "tracking.env.MLFLOW_TRACKING_PASSWORD",
        "passwd",
        "passphrase",
        "ssh_key",
        "storage_key",
        "AccountKey",
        "sas",
        "AZURE_STORAGE_SAS_TOKEN",
        "connection_string",
    ],
)
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["author", "monitor", "batch_size", "passes", "keras_version", "storage", "basic_key"]
)
def test_ordinary_key_names(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_mapping_masks_secret_keys_and_urls() -> None:
    config = {
        "env": {"AWS_SECRET_ACCESS_KEY": "abc", "REGION": "eu"},
        "tracking": {"uri": "http://u:pw@h"},
        "stages": [{"password": 3}],
    }
    assert redact_mapping(config) == {
        "env": {"AWS_SECRET_ACCESS_KEY": "***", "REGION": "eu"},
        "tracking": {"uri": "http://u:***@h"},
        "stages": [{"password": "***"}],
    }
