"""The sweeper's replay engine: a strategy's trials answered from a recorded grid, as a live
sweep would ask, report, prune and tell them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from freezesweep.errors import ConfigError
from freezesweep.replay.table import GridTable
from freezesweep.study.warm_start import WarmSource, carry
from hydra_plugins.freezesweep_sweeper.replay._engine import replay_once, replay_study
from hydra_plugins.freezesweep_sweeper.replay._space import snap, space_from_table
from hydra_plugins.freezesweep_sweeper.replay._strategy import BASELINES, compose_strategy
from tests.helpers.grids import HEAD_EPOCHS, synthetic_table
from tests.helpers.shrink import CONF

FILL = {"head_epochs": HEAD_EPOCHS}


def strategy(name: str, *extra: str):  # type: ignore[no-untyped-def]
    return compose_strategy(name, (*BASELINES.get(name, ()), *extra), CONF, FILL)


def test_the_table_space_is_a_range_a_log_interval_and_choices() -> None:
    table = synthetic_table()
    assert space_from_table(table) == {
        "finetune.top_k": IntDistribution(0, 4),
        "finetune.lr": FloatDistribution(1e-4, 1e-3, log=True),
    }
    discrete = space_from_table(table, discrete=True)
    assert discrete["finetune.lr"] == CategoricalDistribution([1e-4, 3e-4, 1e-3])


def test_an_off_grid_suggestion_snaps_to_the_nearest_value_in_log_space() -> None:
    table = synthetic_table()
    space = space_from_table(table)
    # 5.4e-4 is nearer 3e-4 than 1e-3 on a linear axis's... no: linearly nearer 3e-4 too;
    # 6e-4 is linearly nearer 3e-4 (0.3e-3 vs 0.4e-3) but in log space nearer 1e-3.
    assert snap({"finetune.top_k": 2, "finetune.lr": 6e-4}, space, table)["finetune.lr"] == 1e-3
    assert snap({"finetune.top_k": 2, "finetune.lr": 1.6e-4}, space, table)["finetune.lr"] == 1e-4
    with pytest.raises(ConfigError, match=r"^finetune.top_k='x' is not in the table"):
        snap({"finetune.top_k": "x", "finetune.lr": 1e-4}, space, table)


def test_grid_visits_every_point_once_and_replays_the_same_per_seed() -> None:
    table = synthetic_table()
    grid = strategy("grid")
    space = space_from_table(table, discrete=True)
    steps = replay_once(table, grid, space, seed=0, n_trials=15)
    assert sorted((s.point["finetune.top_k"], s.point["finetune.lr"]) for s in steps) == sorted(
        (p.params["finetune.top_k"], p.params["finetune.lr"]) for p in table.points
    )
    assert all(s.state == "COMPLETE" and not s.snapped for s in steps)
    assert [s.point for s in replay_once(table, grid, space, seed=0, n_trials=15)] == [
        s.point for s in steps
    ]
    assert [s.point for s in replay_once(table, grid, space, seed=1, n_trials=15)] != [
        s.point for s in steps
    ]


def test_values_and_costs_come_from_the_table_and_stop_at_the_target() -> None:
    table = synthetic_table()
    steps = replay_once(
        table, strategy("random"), space_from_table(table), seed=3, n_trials=40,
        stop_at=table.best.value,
    )  # fmt: skip
    assert steps[-1].point == table.best.params and steps[-1].value == table.best.value
    for step in steps:
        recorded = table.point(step.point)
        assert recorded is not None
        assert (step.value, step.seconds, step.epochs) == (recorded.value, recorded.seconds, 5)


def test_the_default_sweep_asks_its_enqueued_baselines_first_and_prunes_from_the_fine_tuning() -> (
    None
):
    table = synthetic_table()
    default = strategy("tpe_median", "hydra.sweeper.pruner.n_startup_trials=2")
    assert default.settings.pruner is not None
    assert default.settings.pruner["n_warmup_steps"] == HEAD_EPOCHS + 3
    default = strategy(
        "tpe_median", "hydra.sweeper.pruner.n_startup_trials=2",
        f"hydra.sweeper.pruner.n_warmup_steps={HEAD_EPOCHS}",
    )  # fmt: skip
    steps = replay_once(table, default, space_from_table(table), seed=0, n_trials=15)
    assert [s.point for s in steps[:2]] == [
        {"finetune.top_k": 0, "finetune.lr": 3e-4},
        {"finetune.top_k": 4, "finetune.lr": 3e-4},
    ]
    pruned = [s for s in steps if s.state == "PRUNED"]
    assert pruned, "the median pruner never pruned the weaker trials"
    for step in pruned:
        recorded = table.point(step.point)
        assert recorded is not None and step.epochs > HEAD_EPOCHS
        assert step.seconds == recorded.seconds_until(step.epochs) < recorded.seconds


def test_a_pruned_recording_cannot_answer_a_strategy_that_trains_it_further() -> None:
    table = synthetic_table()
    short = [
        replace(p, curve=p.curve[:3], state="PRUNED", value=float("nan")) for p in table.points
    ]
    with pytest.raises(ConfigError, match=r"was pruned after 3 epochs; this strategy trains it"):
        replay_once(GridTable(short), strategy("random"), space_from_table(table), 0, n_trials=3)


def test_a_strategy_that_does_not_compose_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^strategy 'bad' \(hydra/sweeper/sampler=nope\): "):
        compose_strategy("bad", ["hydra/sweeper/sampler=nope"], CONF)


def test_warm_start_trials_reach_the_sampler_but_are_never_replayed_steps() -> None:
    table, tpe = synthetic_table(), strategy("tpe")
    space = space_from_table(table)
    _, earlier = replay_study(table, tpe, space, 1, n_trials=10)
    start = carry(
        WarmSource("earlier", "a table"), earlier, space,
        directions=["maximize"], objectives=["val_accuracy"], budgets={},
    )  # fmt: skip
    assert len(start.trials) == 10
    cold = replay_once(table, tpe, space, 0, n_trials=4)
    warm = replay_once(table, tpe, space, 0, n_trials=4, warm=start.trials)
    # n_trials counts the study's own trials; theirs are numbered after the 10 copies.
    assert len(warm) == 4 and [step.number for step in warm] == [10, 11, 12, 13]
    # TPE's 10 start-up trials are the earlier ones: its first own suggestion is TPE's, not
    # the random draw the cold run starts with (same seed).
    assert warm[0].asked != cold[0].asked
