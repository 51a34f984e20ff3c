"""Tests for the memory bound: `trainer.feature_cache_gb`, or half the memory available if less."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from freezesweep import free_memory
from freezesweep.free_memory import MemoryBound, available_memory, memory_bound


def fake_available(monkeypatch: pytest.MonkeyPatch, folder: Path, kib: int) -> None:
    """Make `/proc/meminfo` say `kib` KiB are available (psutil never consulted)."""
    meminfo = folder / "meminfo"
    meminfo.write_text(
        f"MemTotal:       99999999 kB\nMemFree:           12345 kB\nMemAvailable:   {kib} kB\n",
        encoding="ascii",
    )
    monkeypatch.setattr(free_memory, "MEMINFO", meminfo)


def test_the_memory_available_is_read_from_meminfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_available(monkeypatch, tmp_path, 200)
    assert available_memory() == 200 * 1024
    # The smaller bound wins, and the log says which it is.
    assert str(memory_bound(10**9)) == (
        "bound 102400 bytes = half the 204800 bytes of memory available"
    )
    assert memory_bound(1000).bytes == 1000
    assert str(memory_bound(1000)) == "bound 1000 bytes = trainer.feature_cache_gb"


def test_unknown_memory_leaves_the_configured_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No /proc/meminfo (not Linux) and no psutil: the configured bound alone, whatever the size.
    monkeypatch.setattr(free_memory, "MEMINFO", tmp_path / "absent")
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` raises ImportError
    bound = memory_bound(10**12)
    assert bound == MemoryBound(10**12, None)
    assert bound.bytes == 10**12 and bound.fits_memory(10**15)
    assert str(bound) == "bound 1000000000000 bytes = trainer.feature_cache_gb"


def test_what_fits_memory_is_half_the_available_whatever_the_configured_bound() -> None:
    bound = MemoryBound(configured=1000, available=10_000)
    assert bound.bytes == 1000  # the configured bound is smaller: features past it go to disk
    assert bound.fits_memory(5000) and not bound.fits_memory(5001)


@pytest.mark.skipif(not Path("/proc/meminfo").is_file(), reason="no /proc/meminfo (not Linux)")
def test_this_machines_memory_is_read() -> None:
    available = available_memory()
    assert available is not None and 0 < available < 2**50
