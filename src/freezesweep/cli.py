"""The `freezesweep` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _pretrain(arguments: argparse.Namespace) -> int:
    from freezesweep.pretrain import pretrain_backbone

    path, sha256, accuracy = pretrain_backbone(
        Path(arguments.output), epochs=arguments.epochs, seed=arguments.seed
    )
    print(f"task A (digits 0-4) val_accuracy={accuracy:.4f}")
    print(f"wrote {path}")
    print(f"sha256 {sha256}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `freezesweep`.

    Args:
        argv: arguments without the program name. Defaults to `None` (`sys.argv[1:]`).
    """
    parser = argparse.ArgumentParser(prog="freezesweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    pretrain = commands.add_parser(
        "pretrain", help="pretrain the embedded backbone on MNIST digits 0-4 (task A)"
    )
    pretrain.add_argument("--output", default="digits_backbone.keras", help="the .keras file")
    pretrain.add_argument("--epochs", type=int, default=6)
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.set_defaults(handler=_pretrain)
    arguments = parser.parse_args(argv)
    return int(arguments.handler(arguments))


if __name__ == "__main__":
    sys.exit(main())
