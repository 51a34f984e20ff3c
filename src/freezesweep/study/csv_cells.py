"""Report CSVs that a spreadsheet opens as data: no cell of ours is read as a formula.

A trial table carries text from outside the project (a sweep file's categorical choices, a failed
trial's reason quoting a file name); a cell such as `=HYPERLINK(...)` or `@SUM(...)` would be
evaluated by the spreadsheet that opens `trials.csv`. As OWASP recommends for CSV injection, a
text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. Numbers
stay numbers: numeric columns are untouched, and so is a text cell that is a plain number (`-0.5`,
`+3`, `-1e-05`), which no spreadsheet reads as a formula.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading `'` when it is text a spreadsheet would read as a formula.

    Args:
        value: a cell.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.match(value):
        return "'" + value
    return value


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` whose text cells (column names too) go through `safe_cell`.

    Args:
        table: the table about to be written as CSV.
    """
    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(safe_cell)
    return safe.rename(columns=safe_cell)
