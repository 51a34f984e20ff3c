"""`trainer.simulate`: a dry run of a sweep's machinery, its trials answered without training.

Plain dataclass and its reader; `freezesweep.simulate` answers the trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezesweep.spec._checks import non_negative_number, require, setting

SURFACE = "surface"


@dataclass(frozen=True)
class SimulationSpec:
    """How a simulated trial is answered (`trainer.simulate`, `trainer.simulate_seconds`).

    Args:
        table: the recorded grid table (`benchmarks/tables/*.csv`) whose nearest point answers
            each trial, or `None` for the seeded synthetic response surface.
        seconds: what each trial sleeps, spread over its epochs, standing in for training.
    """

    table: Path | None
    seconds: float

    @property
    def source(self) -> str:
        """`surface`, or the table's path: what the trial's run is tagged with."""
        return SURFACE if self.table is None else str(self.table)


def read_simulation(trainer: Any) -> SimulationSpec | None:
    """`trainer.simulate` (`null`: train) and `trainer.simulate_seconds`.

    Raises:
        ConfigError: naming the key: not `null`, `surface` or an existing `.csv` file; a
            negative or non-numeric sleep.
    """
    value = setting(trainer, "simulate", "trainer.simulate")
    seconds = non_negative_number(
        setting(trainer, "simulate_seconds", "trainer.simulate_seconds"),
        "trainer.simulate_seconds",
    )
    if value is None:
        return None
    allowed = f"null, {SURFACE} or the path of a recorded grid table (.csv)"
    message = f"trainer.simulate must be {allowed}; got {value!r}."
    require(isinstance(value, str) and value != "", message)
    if value == SURFACE:
        return SimulationSpec(None, seconds)
    path = Path(value).expanduser().resolve()
    require(path.suffix == ".csv", message)
    require(path.is_file(), f"trainer.simulate: no such grid table: {path}.")
    return SimulationSpec(path, seconds)
