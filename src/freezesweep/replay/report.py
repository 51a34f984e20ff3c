"""What `freezesweep replay` prints and writes: one line per strategy, the JSON, the plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freezesweep.replay import answer
from freezesweep.replay.plot import plot_anytime
from freezesweep.replay.run import ReplayResult


def _seconds(spread: dict[str, Any]) -> str:
    if spread["median"] is None:
        return f"not reached ({spread['reached']} seeds reached)"
    low = "-" if spread["min"] is None else f"{spread['min']:.0f}"
    high = "never" if spread["max"] is None else f"{spread['max']:.0f}"
    return f"{spread['median']:.0f} s [{low}, {high}]"


def result_lines(summary: dict[str, Any]) -> list[str]:
    """The printed result: the grid's best, then each strategy against the default."""
    default = summary["strategies"][summary["default"]]
    lines = [
        f"grid: {summary['grid_points']} points, best val_accuracy {summary['grid_best']:.4f}; "
        f"compute to within 0.5 pp (and 1 pp) of it, median [min, max] over seeds"
    ]
    width = max([12, *(len(name) for name in summary["strategies"])])
    for name, row in summary["strategies"].items():
        ratio = answer.ratio(default["to_answer_s"], row["to_answer_s"])
        versus = (
            "" if name == summary["default"] or ratio is None else f"  default/this {ratio:.2f}"
        )
        lines.append(
            f"  {name:<{width}} 0.5 pp: {_seconds(row['to_answer_s'])}; 1 pp: "
            f"{_seconds(row['to_1pp_s'])}; trials {row['trials']['median']:.0f}; "
            f"{row['seeds']} seeds, {row['snapped']} snapped{versus}"
        )
    return lines


def print_result(summary: dict[str, Any]) -> None:
    """Print `result_lines`."""
    print("\n".join(result_lines(summary)), flush=True)


def write_outputs(
    result: ReplayResult, json_path: str | None, plot_path: str | None, title: str
) -> None:
    """Write the JSON and the anytime plot where asked, saying where."""
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.summary, indent=2) + "\n")
        print(f"wrote {path}")
    if plot_path:
        drawn = plot_anytime(result.curves, result.summary["grid_best"], Path(plot_path), title)
        print(f"wrote {drawn}")
