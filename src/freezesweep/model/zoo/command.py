"""`freezesweep zoo list` and `freezesweep zoo export NAME --out FILE.keras`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freezesweep.errors import ConfigError
from freezesweep.model.zoo import INSTALL_HINT, ZOO


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `zoo list` and `zoo export` to the `freezesweep` command line."""
    zoo = commands.add_parser(
        "zoo", help="the real ImageNet backbones of backbone=zoo: list them, export one"
    )
    actions = zoo.add_subparsers(dest="zoo_command", required=True)
    actions.add_parser("list", help="names, parameter counts and block units")
    export = actions.add_parser(
        "export", help="write the ImageNet model (preprocessing and 1000-class head) as .keras"
    )
    export.add_argument("name", help=f"one of {', '.join(ZOO)}")
    export.add_argument("--out", required=True, help="the .keras file to write")
    zoo.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run a `zoo` command; 2 with one line on stderr for a bad name, file or missing extra."""
    from freezesweep.model.zoo import build

    try:
        if arguments.zoo_command == "list":
            _print_list(build.describe())
            return 0
        path = build.export(arguments.name, Path(arguments.out))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} (RGB images in [0, 255] -> 1000 ImageNet probabilities)")
    return 0


def _print_list(rows: list[dict[str, object]]) -> None:
    for row in rows:
        units = row["units"]
        assert isinstance(units, list)
        print(
            f"{row['name']}: {row['params']:,} parameters, {row['resolution']} px, "
            f"{row['blocks']} blocks, {len(units)} units: {', '.join(units)}"
        )
        print(f"  weights: {row['weights']} ({INSTALL_HINT})")
