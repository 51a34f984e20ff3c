"""Tests for `trainer.simulate` and `trainer.simulate_seconds` as the config reader reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from freezesweep.errors import ConfigError
from freezesweep.spec.read import trial_spec
from tests.helpers.shrink import compose_config


def test_simulation_is_off_by_default(tmp_path: Path) -> None:
    assert trial_spec(compose_config(tmp_path)).simulation is None


def test_surface_and_a_table_path_are_read(tmp_path: Path) -> None:
    spec = trial_spec(compose_config(tmp_path, "trainer.simulate=surface"))
    assert spec.simulation is not None and spec.simulation.source == "surface"
    table = tmp_path / "grid.csv"
    table.write_text("x\n")
    spec = trial_spec(
        compose_config(tmp_path, f"trainer.simulate={table}", "trainer.simulate_seconds=0.5")
    )
    assert spec.simulation is not None
    assert (spec.simulation.table, spec.simulation.seconds) == (table, 0.5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["trainer.simulate=cloud"],
            "trainer.simulate must be null, surface or the path of a recorded grid table "
            "(.csv); got 'cloud'.",
        ),
        (
            ["trainer.simulate=3"],
            "trainer.simulate must be null, surface or the path of a "
            "recorded grid table (.csv); got 3.",
        ),
        (
            ["trainer.simulate=surface", "trainer.simulate_seconds=-1"],
            "trainer.simulate_seconds must be >= 0; got -1.",
        ),
    ],
)
def test_bad_simulation_settings_name_the_key(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        trial_spec(compose_config(tmp_path, *overrides))
    assert str(raised.value) == message


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    with pytest.raises(ConfigError) as raised:
        trial_spec(compose_config(tmp_path, f"trainer.simulate={missing}"))
    assert str(raised.value) == f"trainer.simulate: no such grid table: {missing}."
