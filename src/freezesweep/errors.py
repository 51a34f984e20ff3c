"""Every error type of the project, in one leaf module any layer may import to raise.

Nothing here imports the rest of the package, so the Keras-side modules can raise a
`ConfigError` without depending on the config reader.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DiskFull",
    "FreezeAuditError",
    "OutOfMemory",
    "RecompileGuardError",
    "SpoolEntryError",
    "SweepEndError",
    "WeightFileError",
]


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key to fix."""


class FreezeAuditError(RuntimeError):
    """A frozen weight changed, or the trainable counts differ from the plan."""


class RecompileGuardError(RuntimeError):
    """`trainable` changed after compile: Keras would silently train the wrong weights."""


class OutOfMemory(MemoryError):
    """A trial ran out of (host or accelerator) memory; the message names the batch size."""


class DiskFull(OSError):
    """No space left where a trial writes (audit, model, feature cache, artifacts); the message
    names what was being written and where. The partial file is already removed."""


class WeightFileError(ConfigError):
    """A pretrained weight file that cannot be read safely: a pickle naming a global outside
    the allow-list, truncated or corrupt data, or a tensor whose shape differs from the
    architecture's. A `ConfigError`, so a run ends with one line and exit status 2 before anything
    is created."""


class SpoolEntryError(ValueError):
    """A spooled MLflow run that `freezesweep sync` will not send: a record that is not what
    freezesweep writes, an artifact path outside the entry's folder, or a run the entry did not
    create. The message names the file and line; the entry is kept, untouched, for a human."""


class SweepEndError(RuntimeError):
    """The end of a sweep failed after every trial was told (MLflow refused the report): the
    message names the step and the cause, says where the report is and how the study's parent
    run ended. The sweeper prints it as one line and exits 1."""


class FailureBudgetExceeded(RuntimeError):
    """More trials of a sweep invocation failed than `hydra.sweeper.max_failure_rate` allows:
    the message gives the counts and the last reason. The sweeper prints it as one line and
    exits 1."""
