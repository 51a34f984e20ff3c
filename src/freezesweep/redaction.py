"""The one redaction function: secrets never reach a file, a log, a message, MLflow or Optuna.

What counts as a secret:
- the password of a URL's userinfo (`scheme://user:password@host`): every character SQLAlchemy's
  `make_url` accepts (anything but `@`: `/ # ? : % ; &`, spaces, quotes) and every character
  MLflow's HTTP URIs accept (`@` too), so the password runs from the user name's `:` to the
  *last* `@` of its line. Text between a URL's port and a later `@` on the same line is masked
  with it: more is hidden, never less. A bare token as an HTTP URL's userinfo
  (`https://TOKEN@host`) too;
- the value of a query-string parameter with a secret-looking name (`?password=`, `sslpassword=`,
  `token=`, `X-Amz-Signature=`, `sig=`, ...), and of a free-standing `name=value` with such a
  name (`+env.AWS_SECRET_ACCESS_KEY=...` in a log line of overrides, `AccountKey=...` in an
  Azure connection string);
- any value stored under a secret-looking key name: one holding `password`/`passwd`/`pwd`,
  `passphrase`, `secret`, `token`, `credential`, `signature`, `api_key`, `private_key`,
  `ssh_key`, `storage_key`, `account_key` (Azure `AccountKey`), `access_key`, `session_key`,
  `master_key`, `connection_string`, or the word parts `pass`, `auth`, `authorization`, `sig`,
  `sas` (`azure.sas`, `SAS_TOKEN`); `_`, `-` or nothing between the words, any case.

Pure standard library: the leaf every printer, logger and tracker imports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MASK",
    "RedactingFilter",
    "has_secret",
    "is_secret_key",
    "redact",
    "redact_logs",
    "redact_mapping",
    "redact_override",
]

MASK = "***"

# Key names whose values are secrets. `auth` only as a whole word part (not `author`).
_SECRET_KEY = re.compile(
    r"passw(or)?d|passphrase|pwd|secret|token|credential|signature|"
    r"(api|private|ssh|storage|account|access|session|master)[_-]?key|connection[_-]?string|"
    r"(^|[_.-])(pass|auth|authorization|sig|sas)($|[_.-])",
    re.IGNORECASE,
)
# scheme://user:password@: the password runs to the last `@` of the line (see above), the user
# name (SQLAlchemy's: no `:` or `/`) may hold an `@` itself.
_PASSWORD = re.compile(r"(?P<lead>\b[a-zA-Z][\w+.-]*://[^:/\s\"']*:)[^\n]*@")
# https://TOKEN@host: a bare userinfo, to the last `@` of the authority.
_TOKEN = re.compile(r"(?P<lead>\bhttps?://)[^/?#\s\"':]+@", re.IGNORECASE)
# ?name=value or &name=value (also ;name=value in some drivers' URLs). A comma continues the
# value (a password may hold one) unless a `name=` follows it (a list of overrides).
_QUERY_ITEM = re.compile(
    r"(?P<lead>[?&;](?P<name>[\w.-]+)=)"
    r"(?P<value>[^&;,\s\"']*(?:,(?![^&;,\s\"']*=)[^&;,\s\"']*)*)"
)
# A free-standing name=value (an override in a log line, KEY=value in a traceback), the name
# starting a word; commas as in a query value. Applied after the query pass, so a URL value has
# its query secrets masked first.
_ASSIGNMENT = re.compile(
    r"(?P<lead>(?<![\w.+~?&;-])[+~]*(?P<name>[A-Za-z_][\w.-]*)=)"
    r"(?P<value>[^;,\s\"']*(?:,(?![^;,\s\"']*=)[^;,\s\"']*)*)"
)


def is_secret_key(name: str) -> bool:
    """Whether a config key or query parameter name holds a secret (`password`, `api-key`, ...).

    Args:
        name: the key, dotted or not.
    """
    return bool(_SECRET_KEY.search(name.rsplit(".", 1)[-1]))


def _masked(match: re.Match[str]) -> str:
    return f"{match['lead']}{MASK}@"


def _query_item(match: re.Match[str]) -> str:
    if is_secret_key(match["name"]) and match["value"]:
        return f"{match['lead']}{MASK}"
    return match.group(0)


def redact(text: str) -> str:
    """`text` with every URL password, userinfo token and secret query value replaced by `***`.

    Args:
        text: any text: a URL, a message, a traceback, a YAML document.

    Example:

        >>> redact("postgresql://me:p@ss@db/optuna?sslpassword=x&sslmode=require")
        'postgresql://me:***@db/optuna?sslpassword=***&sslmode=require'
    """
    # A bare userinfo is a user name for databases, but a token for HTTP(S) hosts (git style).
    text = _TOKEN.sub(_masked, _PASSWORD.sub(_masked, text))
    text = _QUERY_ITEM.sub(_query_item, text)
    return _ASSIGNMENT.sub(_query_item, text)


def redact_override(override: str) -> str:
    """A Hydra override `key=value` with the value masked under a secret key, else `redact`ed.

    Args:
        override: one command-line override, e.g. `+aws.AWS_SECRET_ACCESS_KEY=abc`.

    Example:

        >>> redact_override("+env.api_key=abc")
        '+env.api_key=***'
    """
    key, separator, value = override.partition("=")
    if separator and value and is_secret_key(key.lstrip("+~")):
        return f"{key}={MASK}"
    return redact(override)


def has_secret(text: str) -> bool:
    """Whether `redact` would change `text`."""
    return redact(text) != text


def redact_mapping(config: Any, key: str = "") -> Any:
    """A copy of nested mappings and lists with secret-keyed values masked and strings redacted.

    Args:
        config: a (resolved) config as plain containers.
        key: the key `config` is stored under, checked for a secret-looking name.
            Defaults to `""`.
    """
    if key and is_secret_key(key) and config is not None and not isinstance(config, Mapping):
        return MASK
    if isinstance(config, Mapping):
        return {name: redact_mapping(value, str(name)) for name, value in config.items()}
    if isinstance(config, list | tuple):
        return [redact_mapping(value) for value in config]
    if isinstance(config, str):
        return redact(config)
    return config


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message (MLflow and Optuna log URLs too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Adds a `RedactingFilter` to every handler of `logger` (once per handler).

    Handler filters, unlike logger filters, also see the records that child loggers propagate.

    Args:
        logger: the logger whose handlers print or write. Defaults to `None` (the root logger).
    """
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
