"""Tests for `freezesweep.simulate.answer`: the nearest recorded point, and the seeded surface."""

from __future__ import annotations

from pathlib import Path

import pytest

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridPoint, GridTable, write_table
from freezesweep.simulate import answer
from freezesweep.simulate.answer import nearest
from freezesweep.spec.read import trial_spec
from tests.helpers.shrink import ROOT, compose_config


def _point(top_k: int, lr: float, method: str = "unfreeze") -> GridPoint:
    params = {"finetune.top_k": top_k, "finetune.lr": lr, "finetune.method": method}
    curve = (0.1 * top_k, 0.1 * top_k + lr)
    return GridPoint(params, curve, (1, 1), (1.0, 2.0), curve[-1], 1000 * (top_k + 1))


TABLE = GridTable([_point(k, lr) for k in (0, 2, 4) for lr in (1e-4, 1e-3, 1e-2)])


def test_the_nearest_point_measures_learning_rates_in_log_space() -> None:
    # 3e-3 is nearer 1e-3 than 1e-2 in log space (not on a linear scale); top_k 3 ties 2 and 4:
    # the first recorded wins.
    found = nearest(TABLE, {"finetune.top_k": 3, "finetune.lr": 3e-3, "finetune.method": "x"})
    assert found.params == {"finetune.top_k": 2, "finetune.lr": 1e-3, "finetune.method": "unfreeze"}


def test_a_table_answers_with_its_nearest_point_s_curve(tmp_path: Path) -> None:
    table = write_table(TABLE, tmp_path / "grid.csv")
    cfg = compose_config(
        tmp_path, f"trainer.simulate={table}", "finetune.top_k=4", "finetune.lr=0.012"
    )
    found = answer(trial_spec(cfg))
    # The point (4, 1e-2): its curve, its stages, its count; the table's largest count as total.
    assert found.curve == pytest.approx((0.4, 0.41)) and found.stage_epochs == (1, 1)
    assert (found.trainable_params, found.total_params) == (5000, 5000)


def test_a_recorded_grid_of_the_repository_answers(tmp_path: Path) -> None:
    table = ROOT / "benchmarks" / "tables" / "t3_digits_animals.csv"
    cfg = compose_config(tmp_path, f"trainer.simulate={table}", "finetune.top_k=3")
    found = answer(trial_spec(cfg))
    # Every recorded curve covers the schedule it was recorded with (both stages).
    assert len(found.curve) == sum(found.stage_epochs) and found.trainable_params > 0


def test_the_surface_is_fixed_per_point_and_differs_between_points(tmp_path: Path) -> None:
    def curve(*overrides: str) -> tuple[float, ...]:
        cfg = compose_config(tmp_path, "trainer.simulate=surface", *overrides)
        return answer(trial_spec(cfg)).curve

    first = curve("finetune.top_k=2", "finetune.lr=1e-3")
    # The same point answers the same; another depth, rate or seed answers otherwise.
    assert curve("finetune.top_k=2", "finetune.lr=1e-3") == first
    assert curve("finetune.top_k=3", "finetune.lr=1e-3") != first
    assert curve("finetune.top_k=2", "finetune.lr=1e-5") != first
    assert curve("finetune.top_k=2", "finetune.lr=1e-3", "seed=1") != first
    # One value per epoch of the schedule (small_overrides: 1 + 1), rising to the final one.
    assert len(first) == 2 and first[0] < first[1]


def test_a_table_that_searches_a_key_the_config_lacks_is_named(tmp_path: Path) -> None:
    point = GridPoint({"finetune.nope": 1}, (0.5,), (1,), (1.0,), 0.5, 10)
    table = write_table(GridTable([point]), tmp_path / "odd.csv")
    cfg = compose_config(tmp_path, f"trainer.simulate={table}")
    with pytest.raises(ConfigError) as raised:
        answer(trial_spec(cfg))
    assert str(raised.value) == (
        f"{table}: the table searches finetune.nope, which the config lacks."
    )
