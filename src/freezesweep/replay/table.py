"""A recorded grid: every point of a search space trained once, with its per-epoch curve and cost.

One row per point: its parameters, its per-epoch `val_accuracy` (cumulative epochs across
stages, as the pruner sees them), each stage's epochs and cost in seconds, its trainable
parameters and final value. The CSV carries its provenance on every row (study, commit, machine,
seed), so a table copied alone still says where it came from. `freezesweep replay` answers a
search strategy's trials from it instead of training.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freezesweep.errors import ConfigError
from freezesweep.study.csv_cells import plain_cell, safe_cell

PARAM_PREFIX = "param."
_COLUMNS = (
    "state", "value", "trainable_params", "curve", "stage_epochs", "stage_seconds",
    "study", "trial", "commit", "machine", "seed",
)  # fmt: skip
PROVENANCE = ("study", "commit", "machine", "seed")


@dataclass(frozen=True)
class GridPoint:
    """One trained point of the grid.

    Args:
        params: the point's parameters, by override key (`finetune.top_k` -> 3).
        curve: `val_accuracy` after each epoch, cumulative over stages.
        stage_epochs: the epochs each stage ran.
        stage_seconds: what each stage cost, in seconds.
        value: the final value (`nan` when the point was pruned).
        trainable_params: the point's trainable parameters.
        state: `COMPLETE`, or `PRUNED` when its curve stops early.
        trial: the trial number it was recorded from. Defaults to `-1`.
    """

    params: dict[str, Any]
    curve: tuple[float, ...]
    stage_epochs: tuple[int, ...]
    stage_seconds: tuple[float, ...]
    value: float
    trainable_params: int
    state: str = "COMPLETE"
    trial: int = -1

    def seconds_until(self, epochs: int) -> float:
        """What training the first `epochs` epochs cost: whole stages, plus the running
        stage's share by epochs (a stage's own set-up is spread evenly over its epochs)."""
        spent, left = 0.0, epochs
        for count, seconds in zip(self.stage_epochs, self.stage_seconds, strict=True):
            if left <= 0:
                break
            spent += seconds * min(left, count) / count if count else seconds
            left -= count
        return spent

    @property
    def seconds(self) -> float:
        """What training the whole point cost."""
        return float(sum(self.stage_seconds))


@dataclass
class GridTable:
    """Every recorded point, with where it was measured.

    Args:
        points: the points, in the order they were recorded.
        provenance: `study`, `commit`, `machine` and `seed`. Defaults to `{}`.
    """

    points: list[GridPoint]
    provenance: dict[str, str] = field(default_factory=dict)
    _index: dict[tuple[Any, ...], list[GridPoint]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def keys(self) -> list[str]:
        """The searched parameters, in column order."""
        return list(self.points[0].params) if self.points else []

    def values(self, key: str) -> list[Any]:
        """The recorded values of `key`, sorted."""
        return sorted({point.params[key] for point in self.points}, key=_order)

    @property
    def best(self) -> GridPoint:
        """The completed point with the highest final value."""
        done = [p for p in self.points if p.state == "COMPLETE" and math.isfinite(p.value)]
        return max(done, key=lambda point: point.value)

    def point(self, params: Mapping[str, Any], visit: int = 0) -> GridPoint | None:
        """The point recorded at exactly `params`, if any.

        Args:
            params: the point's parameters.
            visit: how many times it was asked before: a point recorded more than once (a live
                study that asked it twice) answers its n-th ask with its n-th recording, its
                last one after that. Defaults to `0`.
        """
        recorded = self._recordings().get(_key(params, self.keys), [])
        return recorded[min(visit, len(recorded) - 1)] if recorded else None

    def missing(self) -> list[dict[str, Any]]:
        """The combinations of the recorded values that no point holds (a full grid: none)."""
        index = self._recordings()
        combos = itertools.product(*(self.values(key) for key in self.keys))
        return [
            dict(zip(self.keys, combo, strict=True))
            for combo in combos
            if _key(dict(zip(self.keys, combo, strict=True)), self.keys) not in index
        ]

    def _recordings(self) -> dict[tuple[Any, ...], list[GridPoint]]:
        if self._index is None:
            self._index = {}
            for point in self.points:
                self._index.setdefault(_key(point.params, self.keys), []).append(point)
        return self._index


def _key(params: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    return tuple(params.get(key) for key in keys)


def _order(value: Any) -> tuple[int, Any]:
    """Numbers before strings, each in their own order."""
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def write_table(table: GridTable, path: Path) -> Path:
    """Write `table` as CSV (floats as Python's shortest round-trip form); returns `path`.

    Text a spreadsheet would read as a formula (a sweep file's choice such as `=HYPERLINK(...)`,
    a study or machine name) is written with a leading `'`, as in the reports
    (`freezesweep.study.csv_cells`); `read_table` reads it back as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [PARAM_PREFIX + key for key in table.keys] + list(_COLUMNS)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for point in table.points:
            cells = [point.params[key] for key in table.keys]
            cells += [
                point.state, repr(point.value), point.trainable_params,
                _joined(point.curve), _joined(point.stage_epochs), _joined(point.stage_seconds),
                table.provenance.get("study", ""), point.trial,
                table.provenance.get("commit", ""), table.provenance.get("machine", ""),
                table.provenance.get("seed", ""),
            ]  # fmt: skip
            writer.writerow([safe_cell(cell) for cell in cells])
    return path


def _joined(values: Iterable[Any]) -> str:
    return " ".join(repr(value) for value in values)


def read_table(path: Path) -> GridTable:
    """Read a table written by `write_table` (a cell's leading `'` escape removed).

    Raises:
        ConfigError: naming the file, when it is missing, has no rows, lacks a column or has a
            row without a per-epoch curve.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: no such grid table.")
    with path.open(newline="") as handle:
        rows = [
            {name: plain_cell(cell or "") for name, cell in row.items()}
            for row in csv.DictReader(handle)
        ]
    if not rows:
        raise ConfigError(f"{path}: the grid table has no rows.")
    absent = [name for name in _COLUMNS if name not in rows[0]]
    keys = [name[len(PARAM_PREFIX) :] for name in rows[0] if name.startswith(PARAM_PREFIX)]
    if absent or not keys:
        what = ", ".join(absent) if absent else f"{PARAM_PREFIX}<key>"
        raise ConfigError(f"{path}: not a grid table (no column {what}).")
    points = [_point(row, keys, path, line) for line, row in enumerate(rows, start=2)]
    provenance = {name: rows[0][name] for name in PROVENANCE}
    return GridTable(points, provenance)


def _point(row: Mapping[str, str], keys: Sequence[str], path: Path, line: int) -> GridPoint:
    if not row["curve"].strip():
        raise ConfigError(f"{path}, line {line}: no per-epoch val_accuracy curve.")
    try:
        return GridPoint(
            params={key: parse_value(row[PARAM_PREFIX + key]) for key in keys},
            curve=tuple(float(v) for v in row["curve"].split()),
            stage_epochs=tuple(int(v) for v in row["stage_epochs"].split()),
            stage_seconds=tuple(float(v) for v in row["stage_seconds"].split()),
            value=float(row["value"]),
            trainable_params=int(row["trainable_params"]),
            state=row["state"],
            trial=int(row["trial"] or -1),
        )
    except ValueError as error:
        raise ConfigError(f"{path}, line {line}: {error}.") from error


def parse_value(text: str) -> Any:
    """A parameter cell as the value it was: an int, a float, else the string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
