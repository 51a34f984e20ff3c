"""The README stays a front page and the site's generated configuration reference stays whole.

`mkdocs build --strict` (a step of .ci/run) checks links and anchors; these check what the build
cannot: the README's size and set-up block, every config file and sweeper field in the generated
reference, and the reader of YAML comments on the forms the config files use.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex

import pytest

from freezesweep.cli import build_parser
from tests.helpers.shrink import ROOT
from tests.helpers.site_pages import pages, site_hook

HOOK = site_hook()


def test_the_readme_is_a_front_page_with_the_two_commands() -> None:
    # Issue 28: at most 300 lines, the set-up block exactly as .ci/run greps it, and a link to
    # every page of the site's nav (the API reference through its index).
    readme = (ROOT / "README.md").read_text()
    setup = 'pip install -e . && python sweep.py -m\npip install -e ".[test]" && python -m pytest\n'
    assert len(readme.splitlines()) <= 300
    assert setup in readme
    nav = re.findall(r":\s*([\w/-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    pages_linked = [page for page in nav if page != "index.md" and not page.startswith("api/")]
    missing = [page for page in [*pages_linked, "api/index.md"] if f"(docs/{page}" not in readme]
    assert not missing, missing


def test_every_config_file_is_in_the_configuration_reference() -> None:
    # Each option file of each group under conf/ (conf/sweep being sweeps/) has its heading, and
    # the page keeps no generation mark unfilled.
    page = pages()["docs/configuration.md"]
    assert "<!-- generated" not in page
    for folder, _, names in os.walk(ROOT / "conf", followlinks=True):
        group = os.path.relpath(folder, ROOT / "conf")
        for name in names:
            if name.endswith(".yaml") and group != ".":
                assert f"#### `{group}={name.removesuffix('.yaml')}`" in page, (group, name)


def test_every_sweeper_field_is_in_the_reference_with_its_default_and_comment() -> None:
    # Generated from the dataclass: the fields, in order, with their defaults; a field declared
    # right under another without a comment of its own shares that field's comment.
    config = HOOK.sweeper_config()
    rows = HOOK.dataclass_fields(config)
    assert [row[0] for row in rows] == [field.name for field in dataclasses.fields(config)]
    by_name = {name: (kind, default, note) for name, kind, default, note in rows}
    assert by_name["n_trials"][:2] == ("int", "20")
    assert "TOTAL of finished trials" in by_name["n_trials"][2]
    assert by_name["storage"][:2] == ("str | None", "sqlite:///sweeps/optuna.db")
    assert by_name["grace_period"][2] == by_name["heartbeat_interval"][2] != ""
    reference = HOOK.sweeper_reference()
    assert "| `tpe` | `optuna.samplers.TPESampler` |" in reference
    assert "| `median` | `optuna.pruners.MedianPruner` |" in reference


def test_yaml_keys_reads_comments_lists_and_defaults_lists() -> None:
    # The comment block above a key (or its inline comment) is the key's; list items of mappings
    # are numbered; a defaults list is one row; the file's first comment block is its header.
    header, rows = HOOK.yaml_keys(
        "# @package _global_\n"
        "# What this file is.\n"
        "\n"
        "defaults:\n"
        "  # the sampler\n"
        "  - override /hydra/sweeper/sampler: tpe\n"
        "  - _self_\n"
        "# Seed of everything.\n"
        "seed: 0\n"
        "stages:\n"
        "  - name: head\n"
        "    epochs: 10    # at least 1\n"
        "  - name: finetune\n"
        "augmentation: []\n"
    )
    assert header == "What this file is."
    assert rows == [
        ("defaults", "[override /hydra/sweeper/sampler: tpe, _self_]", "the sampler"),
        ("seed", "0", "Seed of everything."),
        ("stages", "", ""),
        ("stages.0.name", "head", ""),
        ("stages.0.epochs", "10", "at least 1"),
        ("stages.1.name", "finetune", ""),
        ("augmentation", "[]", ""),
    ]


def _cli_commands() -> dict[str, list[str]]:
    """Each `freezesweep …` line of a code block on the README or a page, by page."""
    found: dict[str, list[str]] = {}
    for page, text in pages().items():
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.match(r"^\s*\$?\s*freezesweep\s+(.*)$", line)
                if command and "..." not in line:
                    arguments = shlex.split(command.group(1), comments=True)
                    found[f"{page}: freezesweep {' '.join(arguments)}"] = arguments
    return found


CLI_COMMANDS = _cli_commands()


def test_the_pages_show_freezesweep_commands() -> None:
    # The extraction itself: the zoo page's and the operations page's commands are among them.
    ids = " ".join(CLI_COMMANDS)
    assert "docs/zoo.md: freezesweep zoo list" in ids
    assert "freezesweep sync" in ids and "freezesweep report --study" in ids


@pytest.mark.parametrize("arguments", CLI_COMMANDS.values(), ids=list(CLI_COMMANDS))
def test_every_freezesweep_command_shown_parses(arguments: list[str]) -> None:
    # Every command and flag a page shows exists with the arguments shown (parsed by the real
    # command line, not run: the sweep commands are composed by test_readme_commands).
    parsed = build_parser().parse_args(arguments)
    assert callable(parsed.handler)
