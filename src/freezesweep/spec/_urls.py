"""The URLs that may carry a password, read as Hydra will read them: a `${` in a config string is
OmegaConf's interpolation syntax, in a password too.

Hydra resolves the sweeper's settings and writes the resolved values back before it builds the
sweeper, so `hydra.sweeper.storage` is read as config syntax twice: a `${` that the first
resolution leaves (an escaped `\\${`, or one an environment variable holds) is read as an
interpolation again. Either way a password's fragment would surface as a key name in OmegaConf's
traceback (`Interpolation key 'x' not found`). Checked as Hydra loads the config: one line naming
the key, never the value.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import GrammarParseError, InterpolationKeyError, OmegaConfBaseException

from freezesweep.errors import ConfigError

# The settings that hold URLs with passwords (the study storage, the MLflow tracking server).
URL_KEYS = ("hydra.sweeper.storage", "tracking.uri", "tracking.default_uri")
# Resolved, then read as config syntax once more (Hydra's instantiation of the sweeper).
_READ_TWICE = ("hydra.sweeper.storage",)
_ADVICE = "write a `$` of a password as %24 in the URL (SQLAlchemy and MLflow decode it)"


def check_url_values(cfg: Any) -> None:
    """Refuse a URL setting that OmegaConf cannot read as the text it holds.

    Args:
        cfg: a config Hydra has just loaded (`hydra` node included when it has one).

    Raises:
        ConfigError: naming the key (never its value): an interpolation that cannot be
            resolved (a password holding `${`), or a `${` left in `hydra.sweeper.storage`
            after one resolution.
    """
    for key in URL_KEYS:
        try:
            value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
        except (GrammarParseError, InterpolationKeyError) as error:
            raise ConfigError(
                f"{key}: OmegaConf reads `${{` in it as an interpolation and cannot resolve it "
                f"({type(error).__name__}); {_ADVICE}."
            ) from None
        except OmegaConfBaseException:
            continue  # resolvable only later (a run-time value): not a password's doing
        if isinstance(value, str):
            _check_http_address(key, value)
        if key in _READ_TWICE and isinstance(value, str) and "${" in value:
            raise ConfigError(
                f"{key}: its value holds `${{` once resolved, which Hydra reads as an "
                f"interpolation again when it builds the sweeper; {_ADVICE}."
            )


def _check_http_address(key: str, value: str) -> None:
    """An `http(s)://` URL whose host and port parse; else one line without the value: urllib's
    own error quotes the text after the first `:`, a password's start when it holds a `/`."""
    if not value.startswith(("http://", "https://")):
        return
    try:
        urllib.parse.urlsplit(value).port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise ConfigError(
            f"{key}: its host and port do not parse as a URL's; in a password, percent-encode "
            "`/`, `?`, `#` and `@` (%2F, %3F, %23, %40)."
        ) from None


def unreadable_value(error: Any) -> str | None:
    """The one line for a config value OmegaConf's grammar cannot parse (its key, never its
    text: OmegaConf quotes the offending character, maybe a password's), else `None`.

    Args:
        error: what made Hydra's composition fail (its cause).
    """
    if not isinstance(error, GrammarParseError):
        return None
    key = getattr(error, "full_key", None) or "a config value"
    return (
        f"{key}: OmegaConf cannot parse it (GrammarParseError): `${{` starts an interpolation; "
        f"{_ADVICE}."
    )
