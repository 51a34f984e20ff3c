"""Heartbeats, stale trials, re-queueing once, and the exact study total under racing workers."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from freezesweep.study.attributes import (
    HEARTBEAT_ATTR,
    REQUEUED_ATTR,
    RETRY_OF_ATTR,
    SURPLUS_ATTR,
)
from freezesweep.study.storage import open_storage
from hydra_plugins.freezesweep_sweeper.trials._liveness import (
    Heartbeat,
    fail_stale,
    silent_others,
    unproven,
)
from hydra_plugins.freezesweep_sweeper.trials._shared_study import claim_place, count_trials


def _study(tmp_path: Path) -> tuple[optuna.Study, str]:
    url = f"journal:{tmp_path}/optuna.log"
    return optuna.create_study(study_name="s", storage=open_storage(url)), url


def _beat(study: optuna.Study, trial: optuna.Trial, seconds_ago: float) -> None:
    study._storage.set_trial_system_attr(trial._trial_id, HEARTBEAT_ATTR, time.time() - seconds_ago)


def test_a_silent_trial_is_failed_and_requeued_once(tmp_path: Path) -> None:
    study, _ = _study(tmp_path)
    alive, dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), study.ask()
    dead.suggest_float("x", 0, 1)
    _beat(study, alive, 1)
    _beat(study, dead, 100)
    assert silent_others(study, interval=10) == [dead.number]
    assert fail_stale(study, grace_period=60) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[dead.number].system_attrs[REQUEUED_ATTR] is True
    assert trials[alive.number].state == TrialState.RUNNING
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.user_attrs[RETRY_OF_ATTR] == dead.number
    # The retry takes the dead trial's place: it does not count, its retry will.
    assert count_trials(study).finished == 0

    # The retry runs with the same parameters; if it dies too, it is not re-queued again.
    again = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert again.params == trials[dead.number].params
    _beat(study, again, 100)
    assert fail_stale(study, grace_period=60) == [again.number]
    assert study.get_trials(states=(TrialState.WAITING,)) == []
    assert count_trials(study).finished == 1


def test_trials_past_the_total_go_back_waiting_as_surplus(tmp_path: Path) -> None:
    # Three workers asked at once for the last two places: the highest number goes back.
    study, _ = _study(tmp_path)
    study.tell(study.ask(), 1.0)
    racing = [study.ask() for _ in range(3)]
    assert [claim_place(study, trial, n_trials=3) for trial in racing] == [True, True, False]
    surplus = study.get_trials()[racing[2].number]
    assert surplus.state == TrialState.WAITING and surplus.system_attrs[SURPLUS_ATTR] is True
    assert count_trials(study).finished + count_trials(study).running == 3
    # A later invocation with a larger total runs the surplus trial first.
    assert study.ask().number == racing[2].number


def test_heartbeat_stamps_tracked_trials_until_untracked(tmp_path: Path) -> None:
    study, url = _study(tmp_path)
    trial = study.ask()
    with Heartbeat(url, interval=0.2) as beat:
        beat.track([trial._trial_id])
        first = study.get_trials()[0].system_attrs[HEARTBEAT_ATTR]
        time.sleep(0.7)
        later = study.get_trials()[0].system_attrs[HEARTBEAT_ATTR]
        assert later > first
        beat.untrack([trial._trial_id])
        time.sleep(0.5)
        stopped = study.get_trials()[0].system_attrs[HEARTBEAT_ATTR]
        time.sleep(0.5)
        assert study.get_trials()[0].system_attrs[HEARTBEAT_ATTR] == stopped


def test_a_fresh_heartbeat_is_waited_on_until_it_moves_or_goes_silent(tmp_path: Path) -> None:
    # A worker killed a second ago looks alive: its trial is waited on until a later heartbeat
    # shows its worker alive, or it goes silent (then stale, failed and re-queued).
    study, _ = _study(tmp_path)
    alive, dead = study.ask(), study.ask()
    _beat(study, alive, 1)
    _beat(study, dead, 1)
    seen: dict[int, float] = {}
    assert unproven(study, 10, seen) == [alive.number, dead.number]
    _beat(study, alive, 0)  # its worker beat again: alive, not waited on
    assert unproven(study, 10, seen) == [dead.number]
    _beat(study, dead, 25)  # no beat since: silent after two intervals, still waited on
    assert unproven(study, 10, seen) == [dead.number]
    # A finished trial is not waited on.
    study.tell(dead, 0.5)
    assert unproven(study, 10, seen) == []
