"""Report CSVs that a spreadsheet opens as data: no cell of ours is read as a formula.

A trial table carries text from outside the project (a sweep file's categorical choices, a failed
trial's reason quoting a file name); a cell such as `=HYPERLINK(...)` or `@SUM(...)` would be
evaluated by the spreadsheet that opens `trials.csv`. As OWASP recommends for CSV injection, a
text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. Numbers
stay numbers: numeric columns are untouched, and so is a text cell that is a plain number (`-0.5`,
`+3`, `-1e-05`), which no spreadsheet reads as a formula. A text cell that starts with `'` itself
gets one more, so the quote is an escape: `plain_cell` reads every cell back as it was (the
replay grid tables, `freezesweep replay --write-table`, are written and read this way).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the reports that call `spreadsheet_safe`, not by replay
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading `'` when it is text a spreadsheet would read as a formula (or
    text that starts with `'`, so that `plain_cell` can undo it).

    Args:
        value: a cell.

    Example:

        >>> safe_cell("=1+2"), safe_cell("-0.5"), safe_cell("'quoted")
        ("'=1+2", '-0.5', "''quoted")
    """
    if not isinstance(value, str) or _NUMBER.match(value):
        return value
    return "'" + value if value.startswith((*FORMULA_STARTS, "'")) else value


def plain_cell(text: str) -> str:
    """The text `safe_cell` was given, from the CSV cell it wrote: one leading `'` removed.

    Args:
        text: a cell as read from the CSV.

    Example:

        >>> plain_cell("'=1+2"), plain_cell("-0.5"), plain_cell("''quoted")
        ('=1+2', '-0.5', "'quoted")
    """
    return text[1:] if text.startswith("'") else text


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` whose text cells (column names too) go through `safe_cell`.

    Args:
        table: the table about to be written as CSV.
    """
    import pandas as pd

    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(safe_cell)
    return safe.rename(columns=safe_cell)
