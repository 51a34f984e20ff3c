"""Tests for freezesweep.train.store: atomic disk entries, corrupt ones rebuilt, the bound."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from freezesweep.train.store import ArrayStore, shared_store


def _entry(value: float = 1.0, size: int = 1000) -> dict[str, np.ndarray]:
    return {"train": np.full(size, value, dtype="float32"), "val": np.arange(3)}


def test_an_entry_on_disk_serves_another_process(tmp_path: Path) -> None:
    ArrayStore(tmp_path).put("k", _entry())
    # A fresh store (another process: empty memory) reads it back, bit for bit.
    entry = ArrayStore(tmp_path).get("k")
    assert entry is not None
    assert np.array_equal(entry["train"], _entry()["train"])
    # Written through a temporary file renamed into place: no partial file is left behind.
    assert sorted(path.name for path in tmp_path.iterdir()) == [".freezesweep-entries", "k.npz"]


def test_a_corrupt_or_truncated_entry_is_ignored_and_removed(tmp_path: Path) -> None:
    ArrayStore(tmp_path).put("flipped", _entry())
    ArrayStore(tmp_path).put("cut", _entry())
    data = bytearray((tmp_path / "flipped.npz").read_bytes())
    data[-200] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    whole = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])

    store = ArrayStore(tmp_path)
    # Never trusted: reported missing (so the caller rebuilds it) and deleted.
    assert store.get("flipped") is None and store.get("cut") is None
    assert not (tmp_path / "flipped.npz").exists() and not (tmp_path / "cut.npz").exists()
    # The rebuilt entry is then served.
    store.put("cut", _entry(2.0))
    entry = ArrayStore(tmp_path).get("cut")
    assert entry is not None and float(entry["train"][0]) == 2.0


def test_the_bound_evicts_the_least_recently_used(tmp_path: Path) -> None:
    # Room for two entries (4.0 kB in memory, 4.8 kB on disk each), not three.
    store = ArrayStore(tmp_path, max_bytes=10_000)
    store.put("a", _entry())
    store.put("b", _entry())
    assert store.get("a") is not None  # "a" is now the most recently used
    store.put("c", _entry())
    # "b", least recently used, left both tiers; "a" and "c" stay.
    assert {path.stem for path in tmp_path.glob("*.npz")} == {"a", "c"}
    assert store.get("b") is None
    assert sum(path.stat().st_size for path in tmp_path.glob("*.npz")) <= 10_000
    assert store.get("c") is not None


def test_trials_of_one_process_share_a_store(tmp_path: Path) -> None:
    # The same folder and bound give the same object: its memory tier is shared.
    assert shared_store(tmp_path, 10) is shared_store(tmp_path, 10)
    assert shared_store(None, 10) is not shared_store(tmp_path, 10)


@pytest.mark.parametrize("name", ["users.npz", "zz-old-features.npz"])
def test_eviction_never_touches_a_file_it_did_not_write(tmp_path: Path, name: str) -> None:
    # A user's `.npz` in the cache folder, older than every entry and larger than the bound.
    users = tmp_path / name
    np.savez(users, x=np.zeros(5000))
    os.utime(users, (0, 0))
    outside = tmp_path.parent / f"{tmp_path.name}-outside.npz"
    np.savez(outside, x=np.zeros(10))
    (tmp_path / "linked.npz").symlink_to(outside)
    store = ArrayStore(tmp_path, max_bytes=10_000)
    for key in "abc":
        store.put(key, _entry())
    # Only the manifest's entries are evicted; the user's file and the link (and its target) stay.
    assert users.exists() and (tmp_path / "linked.npz").is_symlink() and outside.exists()
    assert {path.stem for path in tmp_path.glob("?.npz")} == {"b", "c"}


@pytest.mark.parametrize("planted", ["manifest", "folder"])
def test_a_link_for_the_manifest_or_the_folder_is_never_written_through(
    tmp_path: Path, planted: str
) -> None:
    # A link planted under the manifest's name, or for the cache folder itself: the entries stay
    # in memory, the link's target (a user's file, a user's folder) is left as it was.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("the user's")
    folder = tmp_path / "cache"
    if planted == "manifest":
        folder.mkdir()
        (folder / ".freezesweep-entries").symlink_to(outside / "notes.txt")
    else:
        folder.symlink_to(outside)
    store = ArrayStore(folder, max_bytes=10_000)
    store.put("k", _entry())
    assert store.get("k") is not None  # from memory
    assert sorted(path.name for path in outside.iterdir()) == ["notes.txt"]
    assert (outside / "notes.txt").read_text() == "the user's"
    assert not any(path.suffix in (".npz", ".partial") for path in tmp_path.rglob("*"))


def test_using_an_entry_never_touches_a_links_target(tmp_path: Path) -> None:
    # An entry's name taken by a link (after the manifest named it): its target's times stay.
    store = ArrayStore(tmp_path, max_bytes=10_000)
    store.put("k", _entry())
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("the user's")
    os.utime(outside, (0, 0))
    (tmp_path / "k.npz").unlink()
    (tmp_path / "k.npz").symlink_to(outside)
    assert store.get("k") is not None  # from memory, marked used on disk
    assert outside.stat().st_mtime == 0 and outside.read_text() == "the user's"


def test_a_corrupt_file_it_did_not_write_is_ignored_not_deleted(tmp_path: Path) -> None:
    (tmp_path / "k.npz").write_text("the user's, not an entry")
    assert ArrayStore(tmp_path).get("k") is None
    assert (tmp_path / "k.npz").read_text() == "the user's, not an entry"
