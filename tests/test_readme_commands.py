"""Every `python sweep.py` command and quoted override form the README and the site show works.

The pages are read as the site renders them (`docs/hooks/site.py`: the README as the front page,
the generated configuration reference filled in). A sweep command (`-m`) goes through the real app
(run in this process, `tests.helpers.app_inprocess`) and sweeper with a preflight hook that reads
every composed sample job as a trial and then stops the sweep before its study exists: the
override grammar, the config keys and every value are checked, nothing trains. A single-run
command is composed from the real config tree with Hydra's compose API and read as a trial. Paths
the pages invent are swapped for real ones where the config reader checks them; a command whose
arguments are elided (`python sweep.py ...`) is not a command to run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from freezesweep.spec.read import trial_spec
from tests.helpers.app_inprocess import run_app
from tests.helpers.readme_probe import MARK
from tests.helpers.shrink import compose_config
from tests.helpers.site_pages import pages

pytestmark = pytest.mark.slow


def page_commands(text: str) -> list[list[str]]:
    """The arguments of each `python sweep.py` command (code blocks and inline code, after any
    environment assignments) and each quoted inline override (`'key=value'`, run as a sweep's
    argument) in one page."""
    commands = []
    # Code blocks only: prose may wrap an inline command onto a line of its own.
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    joined = "\n".join(blocks).replace("\\\n", " ")
    for line in joined.splitlines():
        found = re.match(
            r"^\s*\$?\s*(?:pip install[^&]*&&\s*)?(?:[A-Z_]+=\S*\s+)*python sweep\.py\b(.*)$", line
        )
        if found:
            commands.append(shlex.split(found.group(1), comments=True))
    for span in re.findall(r"`(?:[A-Z_]+=\S*\s+)*python sweep\.py([^`]*)`", text):
        commands.append(shlex.split(span.replace("\n", " ")))
    for span in re.findall(r"`('[\w./+~]+=[^`]*')`", text):
        commands.append(["-m", *shlex.split(span)])
    return [command for command in commands if "..." not in command]


def site_commands() -> dict[str, list[str]]:
    """Each distinct command of all pages, under an id naming the first page that shows it."""
    unique: dict[str, list[str]] = {}
    for page, text in pages().items():
        for command in page_commands(text):
            if command not in unique.values():
                unique[f"{page}: {' '.join(command)}"] = command
    return unique


SITE_COMMANDS = site_commands()
COMMANDS = list(SITE_COMMANDS.values())


def test_the_readme_and_site_commands_are_found() -> None:
    # The extraction itself: the forms that broke before (issue 15) are among them, and so are
    # the README's worked example, a page's code block, and the generated configuration
    # reference's (the experiment file's own example).
    assert ["-m", "finetune.top_k=choice(0,1,2,4,8,16,18)"] in COMMANDS
    assert ["-m", "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.lower=0.5"] in COMMANDS
    assert ["finetune.top_k=2", "finetune.lr=3e-4"] in COMMANDS
    assert ["-m", "trainer.mixed_precision=mixed_bfloat16"] in COMMANDS
    ids = " ".join(SITE_COMMANDS)
    assert "docs/configuration.md: -m experiment=depth_curve_keras_app" in ids
    assert "docs/surgical.md: " in ids and "docs/cluster.md: " in ids
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize("arguments", COMMANDS, ids=list(SITE_COMMANDS))
def test_a_readme_command_composes_and_validates(tmp_path: Path, arguments: list[str]) -> None:
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"")
    real = [re.sub(r"^(backbone\.weights=)/models/.*$", rf"\g<1>{weights}", a) for a in arguments]
    if "-m" not in real:
        # A single run: the composed config must read as a trial.
        trial_spec(compose_config(tmp_path, *real, small=False))
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FREEZESWEEP_STORAGE", f"sqlite:///{tmp_path}/optuna.db")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        process = run_app(
            tmp_path,
            "-m",
            *[argument for argument in real if argument != "-m"],
            "hydra.sweeper.preflight=tests.helpers.readme_probe.check",
            # A package beside the app is no hook module by itself: it is allowed by name.
            "allowed_targets=[tests.helpers.readme_probe]",
            f"tracking.default_uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
        )
    if "no SLURM cluster answers" in process.stderr or "no SLURM client" in process.stderr:
        pytest.skip("the submitit_slurm launcher checks for a SLURM cluster before composing")
    # The probe stops every command with its mark, after reading each sample job as a trial.
    assert f"{MARK}: " in process.stderr, process.stderr[-3000:]
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "optuna.db").exists()
