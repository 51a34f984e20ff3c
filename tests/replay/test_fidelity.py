"""Replay is faithful: a live seeded sweep and its replay from its own study pick the same
trials in the same order, with the same values, states and pruning."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from freezesweep.replay.from_study import table_from_study
from freezesweep.study.storage import open_storage
from hydra_plugins.freezesweep_sweeper.replay._engine import replay_once
from hydra_plugins.freezesweep_sweeper.replay._space import space_from_sweep
from hydra_plugins.freezesweep_sweeper.replay._strategy import compose_strategy
from tests.helpers.processes import run_script
from tests.helpers.shrink import CONF, small_overrides

pytestmark = pytest.mark.slow

SEED, TRIALS = 5, 8
# The default sweep (TPE, its enqueued baselines, a median pruner) on a grid-aligned space,
# with a pruner that can act within 1 + 2 epochs.
SWEEP = [
    "hydra.sweeper.params={finetune.top_k: 'range(0, 5)', finetune.lr: 'choice(1e-4,3e-4,1e-2)'}",
    f"hydra.sweeper.n_trials={TRIALS}",
    f"hydra.sweeper.seed={SEED}",
    "hydra.sweeper.pruner.n_startup_trials=2",
    "hydra.sweeper.pruner.n_warmup_steps=1",
]


def test_a_live_seeded_sweep_and_its_replay_agree_trial_by_trial(tmp_path: Path) -> None:
    shrink = [*small_overrides(tmp_path), "schedule.stages.1.epochs=2"]
    sweep = run_script(tmp_path, "-m", *shrink, *SWEEP)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    study = optuna.load_study(
        study_name="top_k_lr", storage=open_storage(f"sqlite:///{tmp_path}/sweeps/optuna.db")
    )
    live = study.get_trials(deepcopy=False)
    assert len(live) == TRIALS
    table = table_from_study(study)
    strategy = compose_strategy("live", SWEEP, CONF)
    space = space_from_sweep(strategy.settings.params, table)
    replayed = replay_once(table, strategy, space, SEED, n_trials=TRIALS)
    assert [step.point for step in replayed] == [trial.params for trial in live]
    assert [step.state for step in replayed] == [trial.state.name for trial in live]
    for step, trial in zip(replayed, live, strict=True):
        reported = trial.intermediate_values
        assert step.epochs == len(reported)
        assert step.value == (trial.value if trial.value is not None else reported[max(reported)])
    assert {step.state for step in replayed} == {"COMPLETE", "PRUNED"}, "nothing was pruned"
