"""A clean copy of the repository, as a fresh clone has it, for tests of the deploy scripts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers.processes import run
from tests.helpers.shrink import ROOT


def clean_checkout(destination: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and not ignored), nothing else.

    Untracked files that git would not ignore come too, so uncommitted work is what is tested;
    symbolic links stay links (conf/sweep).
    """
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        target = destination / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return destination
