r"""The real tasks' recorded grids: who won, by how much, and val_accuracy against trainable
parameters per depth.

Reads grid tables (`benchmarks/tables/<task>.csv`, written by `freezesweep replay --from-study
... --write-table`), prints a Markdown summary per task (the best point; the best head-only and
full fine-tune points; the cheapest point within 0.5 pp of the best) and, with `--plots DIR`,
draws `DIR/grid_<task>.png`: for each depth the best val_accuracy over the LRs, against that
depth's trainable parameters (log axis), one line per fine-tuning method.

    python benchmarks/task_grids.py benchmarks/tables/*.csv --plots docs/img
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from freezesweep.plotting import new_figure, save_figure
from freezesweep.replay.table import GridPoint, GridTable, read_table

DEPTH, LR, METHOD = "finetune.top_k", "finetune.lr", "finetune.method"


def _method(point: GridPoint) -> str:
    return str(point.params.get(METHOD, "unfreeze"))


def _done(table: GridTable) -> list[GridPoint]:
    return [p for p in table.points if p.state == "COMPLETE"]


def _describe(point: GridPoint) -> str:
    method = f", {_method(point)}" if METHOD in point.params else ""
    return (
        f"top_k={point.params[DEPTH]}{method}, lr={point.params[LR]:g}: "
        f"**{point.value:.4f}** ({point.trainable_params:,} trainable, {point.seconds:.0f} s)"
    )


def summary(name: str, table: GridTable) -> list[str]:
    """Markdown lines: the winner and the reference points of one task."""
    done = _done(table)
    best = max(done, key=lambda p: p.value)
    deepest = max(p.params[DEPTH] for p in done)
    head = max((p for p in done if p.params[DEPTH] == 0), key=lambda p: p.value)
    full = max(
        (p for p in done if p.params[DEPTH] == deepest and _method(p) == "unfreeze"),
        key=lambda p: p.value,
    )
    close = [p for p in done if p.value >= best.value - 0.005]
    knee = min(close, key=lambda p: (p.trainable_params, -p.value))
    provenance = table.provenance
    return [
        f"**{name}** ({len(table.points)} points; commit {provenance.get('commit', '?')}, "
        f"{provenance.get('machine', '?')}, seed {provenance.get('seed', '?')})",
        "",
        f"- best: {_describe(best)}",
        f"- head only (best LR): {_describe(head)}; best - head = "
        f"{100 * (best.value - head.value):+.1f} pp",
        f"- full fine-tune (best LR): {_describe(full)}; best - full = "
        f"{100 * (best.value - full.value):+.1f} pp",
        f"- fewest trainable parameters within 0.5 pp of the best: {_describe(knee)}",
        *_per_method(done, best),
        "",
    ]


def _per_method(done: list[GridPoint], best: GridPoint) -> list[str]:
    """On a grid over `finetune.method`: each method's best point below the head."""
    if METHOD not in best.params:
        return []
    lines = []
    for method in sorted({_method(p) for p in done}):
        ours = [p for p in done if _method(p) == method and p.params[DEPTH] > 0]
        top = max(ours, key=lambda p: p.value)
        lines.append(
            f"- best with {method}: {_describe(top)}; {100 * (top.value - best.value):+.1f} pp"
        )
    return lines


def plot(name: str, table: GridTable, path: Path) -> Path:
    """Best val_accuracy over LRs per depth against trainable parameters, a line per method."""
    figure, axes = new_figure((8, 4.5))
    for method in sorted({_method(p) for p in _done(table)}):
        best: dict[int, GridPoint] = {}
        for point in (p for p in _done(table) if _method(p) == method):
            depth = int(point.params[DEPTH])
            if depth not in best or point.value > best[depth].value:
                best[depth] = point
        depths = sorted(best)
        xs = [best[d].trainable_params for d in depths]
        axes.plot(xs, [best[d].value for d in depths], marker="o", label=method)
        for depth, x in zip(depths, xs, strict=True):
            axes.annotate(str(depth), (x, best[depth].value), textcoords="offset points",
                          xytext=(3, 4), fontsize=7)  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("trainable parameters (log scale); labels: top_k")
    axes.set_ylabel("val_accuracy (best LR per depth)")
    axes.set_title(f"{name}: the recorded grid")
    axes.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", help="grid tables (.csv)")
    parser.add_argument("--plots", default=None, help="folder for grid_<task>.png")
    arguments = parser.parse_args(argv)
    for file in arguments.tables:
        name = Path(file).stem
        table = read_table(Path(file))
        print("\n".join(summary(name, table)))
        if arguments.plots:
            print(f"![{name}]({plot(name, table, Path(arguments.plots) / f'grid_{name}.png')})\n")


if __name__ == "__main__":
    main()
