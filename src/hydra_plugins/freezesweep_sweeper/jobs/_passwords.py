"""Passwords in command-line URLs never reach a file: they travel to jobs as environment variables.

`hydra.sweeper.storage=postgresql://user:pw@host/db` or `tracking.uri=...` on the command line
would otherwise be written by Hydra into `multirun.yaml`, each job's `.hydra/overrides.yaml`
and `hydra.yaml`, and submitit's pickled jobs. The sweeper replaces each such value by
`${oc.env:FREEZESWEEP_SECRET_<hash>}` before anything is saved, and sets that variable in its
own environment, which local subprocesses and SLURM jobs (`--export=ALL`, sbatch's default)
inherit. Configs still resolve to the real URL; saved files hold only the variable's name.
"""

from __future__ import annotations

import hashlib
import os

from omegaconf import DictConfig, OmegaConf, read_write

from freezesweep.redaction import has_secret, is_secret_key

ENV_PREFIX = "FREEZESWEEP_SECRET_"


def has_password(value: str) -> bool:
    """Whether `value` holds a secret that `freezesweep.redaction.redact` would hide."""
    return has_secret(value)


def hide(value: str) -> str:
    """`${oc.env:NAME}` for a password-bearing value (setting NAME here), else the value."""
    if not has_password(value):
        return value
    return _hide_value(value)


def _hide_value(value: str) -> str:
    name = ENV_PREFIX + hashlib.sha256(value.encode()).hexdigest()[:12].upper()
    os.environ[name] = value
    return "${oc.env:" + name + "}"


def hide_in_override(override: str) -> str:
    """`key=value` with a password-bearing value, or any value of a secret-looking key
    (`+env.AWS_SECRET_ACCESS_KEY=...`), hidden (see `hide`); else `override` as it is.

    Only a secret's override is rewritten: the quotes of any other value are part of its meaning
    (`'a,b'` is one string, not a choice of two), so they are kept.
    """
    key, separator, value = override.partition("=")
    if not separator:
        return override
    plain = _unquote(value)
    secret_key = is_secret_key(key.lstrip("+~")) and plain != "" and not plain.startswith("${")
    if not (secret_key or has_password(plain)):
        return override
    return f"{key}={_hide_value(plain)}"


def scrub(config: DictConfig) -> list[str]:
    """Hide passwords of the command-line overrides in `config`, in place, before Hydra saves it.

    Args:
        config: the sweep's master config (its `hydra.overrides` and the overridden keys).

    Returns:
        The config keys whose values were hidden.
    """
    hidden = []
    with read_write(config):
        for kind in ("hydra", "task"):
            overrides = config.hydra.overrides[kind]
            for index, override in enumerate(list(overrides)):
                safe = hide_in_override(override)
                if safe == override:
                    continue
                overrides[index] = safe
                # Hydra composed hydra.job.override_dirname from the raw task overrides.
                job = config.hydra.get("job")
                if job is not None and isinstance(job.get("override_dirname"), str):
                    # Hydra writes the value there without its quotes.
                    key, _, value = override.partition("=")
                    job.override_dirname = job.override_dirname.replace(override, safe).replace(
                        f"{key}={_unquote(value)}", safe
                    )
                key, _, value = safe.partition("=")
                key = key.lstrip("+~")
                hidden.append(key)
                if OmegaConf.select(config, key, default=None) is not None:
                    OmegaConf.update(config, key, value, force_add=True)
        # The same URLs written in a config file rather than on the command line: jobs
        # recompose their config from the files plus these overrides, so add one for each.
        for kind, key in (("hydra", "hydra.sweeper.storage"), ("task", "tracking.uri")):
            found = None if key in hidden else _raw(config, key)
            # An `${oc.env:...}` reference is already safe: files keep the reference.
            if isinstance(found, str) and has_password(found):
                # The value as resolved: an interpolation inside the password (`${oc.env:PW}`)
                # would reach jobs unresolved through the variable (a resolver's result is
                # not read as config syntax again).
                safe = hide(str(OmegaConf.select(config, key)))
                OmegaConf.update(config, key, safe)
                config.hydra.overrides[kind].append(f"{key}={safe}")
                hidden.append(key)
    return hidden


def _raw(config: DictConfig, key: str) -> object:
    """The value at `key` as written, interpolations unresolved (None when absent)."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None)
    if not isinstance(node, DictConfig):
        return None
    return OmegaConf.to_container(node, resolve=False).get(leaf)  # type: ignore[union-attr]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
