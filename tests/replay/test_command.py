"""`freezesweep replay`: the printed comparison, the JSON for scripts, the plot, refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from freezesweep.cli import main
from freezesweep.replay.table import GridTable, write_table
from tests.helpers.grids import synthetic_table
from tests.helpers.shrink import CONF


def test_replay_prints_each_strategy_and_writes_the_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = write_table(synthetic_table(), tmp_path / "grid.csv")
    out, plot = tmp_path / "result.json", tmp_path / "anytime.png"
    code = main(
        ["replay", str(table), "--seeds", "3", "--strategy", "grid", "--strategy", "random",
         "--strategy", "tpe_median", "--json", str(out), "--plot", str(plot),
         "--config-dir", str(CONF)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads(out.read_text())
    assert result["default"] == "tpe_median" and result["grid_points"] == 15
    assert result["grid_best"] == synthetic_table().best.value
    assert set(result["strategies"]) == {"grid", "random", "tpe_median"}
    for row in result["strategies"].values():
        assert row["seeds"] == 3
        assert set(row["to_answer_s"]) == {"median", "min", "max", "reached"}
        assert set(row["to_1pp_s"]) == {"median", "min", "max", "reached"}
        assert row["to_1pp_s"]["median"] <= row["to_answer_s"]["median"]
    # The grid sampler finds the best within the grid's 15 points, every seed.
    assert result["strategies"]["grid"]["to_answer_s"]["reached"] == 3
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "grid: 15 points, best val_accuracy" in printed and "default/this" in printed


def test_warm_start_replays_each_strategy_warm_started_from_another_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = write_table(synthetic_table(), tmp_path / "grid.csv")
    earlier = write_table(synthetic_table(), tmp_path / "earlier.csv")
    out = tmp_path / "result.json"
    code = main(
        ["replay", str(table), "--warm-start", str(earlier), "--seeds", "3", "--strategy", "tpe",
         "--json", str(out), "--config-dir", str(CONF)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = json.loads(out.read_text())["strategies"]
    assert set(rows) == {"tpe", "tpe+warm"} and rows["tpe+warm"]["seeds"] == 3
    # Warm-started from a sweep of the same task, TPE needs no more compute than cold.
    assert rows["tpe+warm"]["to_answer_s"]["median"] <= rows["tpe"]["to_answer_s"]["median"]
    assert "tpe+warm" in capsys.readouterr().out


def test_a_warm_start_table_over_another_space_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = write_table(synthetic_table(), tmp_path / "grid.csv")
    depth_only = [
        replace(p, params={"finetune.top_k": p.params["finetune.top_k"]})
        for p in synthetic_table().points
        if p.params["finetune.lr"] == 3e-4
    ]
    earlier = write_table(GridTable(depth_only), tmp_path / "depths.csv")
    code = main(
        ["replay", str(table), "--warm-start", str(earlier), "--seeds", "1", "--strategy", "tpe",
         "--config-dir", str(CONF)]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: --warm-start: study 'depths' in {earlier} did not search finetune.lr "
        "(this sweep searches finetune.lr, finetune.top_k).\n"
    )


def test_a_table_that_is_not_a_grid_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = synthetic_table().points[1:]
    table = write_table(GridTable(points), tmp_path / "holes.csv")
    code = main(["replay", str(table), "--seeds", "2", "--config-dir", str(CONF)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"error: {table}: not a grid: 1 combination(s) of its values were never trained, "
        "e.g. {'finetune.top_k': 0, 'finetune.lr': 0.0001}.\n"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "error: give a table file or --from-study NAME (one of them).\n"),
        (["--strategy", "nope"], "error: --strategy 'nope': expected NAME=OVERRIDES or a baseline"),
        (["--default", "gp", "--strategy", "grid"], "error: --default gp: not one of grid.\n"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    table = write_table(synthetic_table(), tmp_path / "grid.csv")
    given = arguments if not arguments else [str(table), *arguments]
    assert main(["replay", *given, "--config-dir", str(CONF)]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_a_study_can_be_saved_as_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    from freezesweep.study.pruning import record_costs

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="g", storage=storage, direction="maximize")
    for depth in (0, 1):
        trial = study.ask({"finetune.top_k": optuna.distributions.IntDistribution(0, 1)})
        for epoch, value in enumerate((0.5, 0.6 + depth / 10)):
            trial.report(value, epoch)
        record_costs(trial, [1, 1], [1.0, 2.0])
        study.tell(trial, 0.6 + depth / 10)
    out = tmp_path / "g.csv"
    code = main(
        ["replay", "--from-study", "g", "--storage", storage, "--write-table", str(out),
         "--seeds", "0", "--config-dir", str(CONF)]
    )  # fmt: skip
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.splitlines()[0].startswith("param.finetune.top_k,state,value,")
    assert ",g,0," in text and ",g,1," in text
