"""A `${` in a URL's password is OmegaConf's interpolation syntax: refused in one line naming
the key, never the value, as Hydra loads the config."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from freezesweep.errors import ConfigError
from freezesweep.spec._urls import check_url_values, unreadable_value

_ADVICE = "write a `$` of a password as %24 in the URL (SQLAlchemy and MLflow decode it)."


@pytest.mark.parametrize(
    ("key", "password", "expected"),
    [
        # `${name}`: a key OmegaConf looks for (and would name in its traceback).
        (
            "tracking.uri",
            "ab${secretpart}yz",
            "tracking.uri: OmegaConf reads `${` in it as an interpolation and cannot resolve it "
            "(InterpolationKeyError); " + _ADVICE,
        ),
        (
            "hydra.sweeper.storage",
            "ab${secretpart}yz",
            "hydra.sweeper.storage: OmegaConf reads `${` in it as an interpolation and cannot "
            "resolve it (InterpolationKeyError); " + _ADVICE,
        ),
        # Escaped, the storage still holds `${` once resolved: Hydra resolves it again.
        (
            "hydra.sweeper.storage",
            "ab\\${secretpart}yz",
            "hydra.sweeper.storage: its value holds `${` once resolved, which Hydra reads as an "
            "interpolation again when it builds the sweeper; " + _ADVICE,
        ),
    ],
)
def test_an_interpolation_in_a_password_is_refused_without_quoting_it(
    key: str, password: str, expected: str
) -> None:
    cfg = OmegaConf.create({})
    OmegaConf.update(cfg, key, f"postgresql://fs:{password}@db/optuna", force_add=True)
    with pytest.raises(ConfigError) as raised:
        check_url_values(cfg)
    assert str(raised.value) == expected
    assert "secretpart" not in str(raised.value)


def test_what_omegaconf_reads_as_text_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_PW", "pw$x")
    cfg = OmegaConf.create(
        {
            # A password from the environment, `$` not before `{`, `%24{`, an escape where
            # the value is read once, a run-time value not set yet: all left to the rest.
            "hydra": {"sweeper": {"storage": "postgresql://fs:a$b\\c%24{d}@db/${oc.env:FS_PW}"}},
            "tracking": {"uri": "http://fs:\\${x}@h", "default_uri": "sqlite:///${missing:x}"},
        }
    )
    check_url_values(cfg)


def test_a_value_omegaconf_cannot_parse_is_named_by_its_key_not_its_text() -> None:
    from omegaconf.errors import GrammarParseError

    with pytest.raises(GrammarParseError) as raised:
        OmegaConf.create({"tracking": {"uri": "http://fs:pw${secret!@h"}})
    assert unreadable_value(raised.value) == (
        "tracking.uri: OmegaConf cannot parse it (GrammarParseError): `${` starts an "
        "interpolation; " + _ADVICE
    )
    assert unreadable_value(ValueError("another cause")) is None


@pytest.mark.parametrize("password", ["se/cret", "se?cret", "se#cret", "s:e/cret"])
def test_an_http_address_that_does_not_parse_is_refused_without_quoting_it(password: str) -> None:
    # urllib's own error quotes the text after the first `:` as a port: `'se'` of the password.
    cfg = OmegaConf.create({"tracking": {"uri": f"http://fs:{password}@mlflow.example:5000"}})
    with pytest.raises(ConfigError) as raised:
        check_url_values(cfg)
    assert str(raised.value) == (
        "tracking.uri: its host and port do not parse as a URL's; in a password, "
        "percent-encode `/`, `?`, `#` and `@` (%2F, %3F, %23, %40)."
    )
    encoded = OmegaConf.create({"tracking": {"uri": "http://fs:se%2Fcret@mlflow.example:5000"}})
    check_url_values(encoded)
