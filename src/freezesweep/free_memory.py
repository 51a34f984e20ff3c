"""How many bytes of features (or decoded images) may be held in memory: `trainer.feature_cache_gb`,
or less when the machine has less memory free.

Features are built whole in memory (their chunks, then one array: twice their size for a
moment), and the stage that trains on them needs room beside them, so they are held in memory
only up to `FREE_FRACTION` of the memory available when a stage starts: `MemAvailable` of
`/proc/meminfo` on Linux, else psutil's `available` where psutil is installed. Where neither can
be read, `trainer.feature_cache_gb` alone is the bound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

FREE_FRACTION = 0.5  # "half" in the messages below
MEMINFO = Path("/proc/meminfo")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping, or `None` if unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in MEMINFO.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(":")
            if name == "MemAvailable":
                number, unit = value.split()
                return int(number) * 1024 if unit == "kB" else int(number)
    try:
        import psutil  # optional: not a dependency of freezesweep
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class MemoryBound:
    """The bytes that may be held in memory, and where the number comes from.

    Attributes:
        configured: `trainer.feature_cache_gb` in bytes.
        available: the memory available now, in bytes (`None`: unknown).
    """

    configured: int
    available: int | None

    @property
    def free(self) -> int | None:
        """`FREE_FRACTION` of the memory available, or `None` if unknown."""
        return None if self.available is None else int(self.available * FREE_FRACTION)

    @property
    def bytes(self) -> int:
        """The bound: the smaller of the configured bound and the free part of memory."""
        return self.configured if self.free is None else min(self.configured, self.free)

    def fits_memory(self, size: int) -> bool:
        """Whether `size` bytes fit the free part of memory (whatever the configured bound)."""
        return self.free is None or size <= self.free

    def __str__(self) -> str:
        """E.g. `bound 1000 bytes = half the 2000 bytes of memory available`."""
        if self.free is not None and self.free < self.configured:
            return f"bound {self.bytes} bytes = half the {self.available} bytes of memory available"
        return f"bound {self.bytes} bytes = trainer.feature_cache_gb"


def memory_bound(configured: int) -> MemoryBound:
    """The bound of what is held in memory now, given `trainer.feature_cache_gb` in bytes."""
    return MemoryBound(configured, available_memory())
