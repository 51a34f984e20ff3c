r"""Per-block tables of `sweeps/surgical.yaml` studies: window offset x LR -> val_accuracy.

Reads finished studies from an Optuna storage and prints one Markdown table per study (rows: the
trained block, top first; columns: the fine-tuning LR; the best cell of each study in bold), and,
with `--plot`, draws best val_accuracy per block for every study into one PNG.

    python benchmarks/surgical_tables.py --storage sqlite:///sweeps/optuna.db \
        surgical_digits surgical_invert --baselines baselines_digits baselines_invert \
        --plot docs/surgical.png
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState


def grid(study: optuna.Study, key: str) -> dict[int, dict[float, float]]:
    """{params[key]: {lr: val_accuracy}} of the study's completed trials."""
    table: dict[int, dict[float, float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = table.setdefault(int(trial.params[key]), {})
        row[float(trial.params["finetune.lr"])] = float(trial.values[0])
    return table


def markdown(
    blocks: dict[int, dict[float, float]], units: int, baselines: dict[int, dict[float, float]]
) -> str:
    """The table as Markdown; block `units - offset` is trained (block 1 is the lowest); the
    single-block row with the best value in bold; baselines (by top_k) below it."""
    rates = sorted({lr for row in blocks.values() for lr in row})
    best = max(value for row in blocks.values() for value in row.values())
    lines = [
        "| trained (offset) | " + " | ".join(f"lr={lr:g}" for lr in rates) + " | best |",
        "|---" * (len(rates) + 2) + "|",
    ]
    named = [(f"block{units - offset} ({offset})", blocks[offset]) for offset in sorted(blocks)]
    names = {0: "head only (top_k=0)", units: f"all {units} blocks (top_k={units})"}
    named += [(names.get(k, f"top_k={k}"), baselines[k]) for k in sorted(baselines)]
    for name, row in named:
        cells = [
            (f"**{row[lr]:.4f}**" if row[lr] == best else f"{row[lr]:.4f}") if lr in row else "-"
            for lr in rates
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {max(row.values()):.4f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+")
    parser.add_argument("--storage", default="sqlite:///sweeps/optuna.db")
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--plot", default=None)
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=[],
        help="one study per surgical study (top_k in {0, units}, same LRs), rows below its table",
    )
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def load(name: str) -> optuna.Study:
        return optuna.load_study(study_name=name, storage=args.storage)

    tables = {name: grid(load(name), "finetune.offset") for name in args.studies}
    extra = [grid(load(name), "finetune.top_k") for name in args.baselines]
    for index, (name, table) in enumerate(tables.items()):
        rows = extra[index] if index < len(extra) else {}
        print(f"### {name}\n\n{markdown(table, args.units, rows)}\n")
    if args.plot:
        os.environ.setdefault("MPLBACKEND", "Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6.5, 4))
        for name, table in tables.items():
            offsets = sorted(table, reverse=True)  # lowest block first, left to right
            axes.plot(
                [f"block{args.units - o}" for o in offsets],
                [max(table[o].values()) for o in offsets],
                marker="o",
                label=name,
            )
        axes.set_xlabel("the one block trained (with the head)")
        axes.set_ylabel("best val_accuracy over 3 LRs")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
