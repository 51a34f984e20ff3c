"""Warm start: which earlier trials a new study's sampler gets, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from freezesweep.errors import ConfigError
from freezesweep.study.attributes import (
    WARM_START_ATTR,
    WARM_START_FROM_ATTR,
    WARM_STARTED_ATTR,
)
from freezesweep.study.own_trials import own_trials
from freezesweep.study.warm_start import (
    WarmSource,
    add_warm_start,
    read_sources,
    warm_start_params,
)

SPACE = {
    "finetune.top_k": IntDistribution(0, 4),
    "finetune.lr": FloatDistribution(1e-5, 1e-2, log=True),
}
WIDE = {
    "finetune.top_k": IntDistribution(0, 8),
    "finetune.lr": FloatDistribution(1e-5, 1e-2, log=True),
    "finetune.method": CategoricalDistribution(["unfreeze", "lora"]),
}


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/optuna.db"


def _source(url: str, name: str = "old", direction: str = "maximize") -> optuna.Study:
    """An earlier study over a wider space: top_k 0..8, and the method searched too."""
    study = optuna.create_study(study_name=name, storage=url, direction=direction)
    for top_k in range(0, 9, 2):
        study.add_trial(
            create_trial(
                params={"finetune.top_k": top_k, "finetune.lr": 1e-3, "finetune.method": "lora"},
                distributions=WIDE,
                value=0.5 + top_k / 20,
                user_attrs={"trainable_params": 1000 * (top_k + 1)},
                intermediate_values={0: 0.4, 1: 0.5 + top_k / 20},
            )
        )
    study.add_trial(  # pruned after one epoch: the sampler ranks it by that report
        create_trial(
            state=TrialState.PRUNED,
            params={"finetune.top_k": 1, "finetune.lr": 1e-4, "finetune.method": "unfreeze"},
            distributions=WIDE,
            intermediate_values={0: 0.2},
        )
    )
    study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    return study


def _read(url: str, *sources: WarmSource, **changes: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "directions": ["maximize"],
        "objectives": ["val_accuracy"],
        "budgets": {},
        "own": WarmSource("new", url),
    }
    arguments.update(changes)
    space = arguments.pop("space", SPACE)
    return read_sources(list(sources), space, **arguments)


def test_trials_inside_the_new_space_are_carried_and_the_others_skipped(tmp_path: Path) -> None:
    url = _url(tmp_path)
    _source(url)
    (start,) = _read(url, WarmSource("old", url))
    # top_k 0, 2, 4 and the pruned top_k 1 fit top_k in [0, 4]; 6 and 8 do not; FAIL never counts.
    assert sorted(t.params["finetune.top_k"] for t in start.trials) == [0, 1, 2, 4]
    assert start.skipped == 2
    for trial in start.trials:
        # The method this sweep does not search is dropped; the new space's distributions apply.
        assert set(trial.params) == set(SPACE) and trial.distributions == SPACE
        assert trial.system_attrs[WARM_START_ATTR] == "old"
        assert trial.user_attrs[WARM_START_FROM_ATTR].startswith("old#")
    complete = [t for t in start.trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in start.trials if t.state == TrialState.PRUNED]
    # A COMPLETE trial's curve stays behind (pruners compare with this study's curves only);
    # a PRUNED one keeps it, since the sampler ranks it by its last report.
    assert all(not t.intermediate_values for t in complete)
    assert pruned[0].intermediate_values == {0: 0.2} and pruned[0].values == [0.2]


def test_a_budget_is_recomputed_from_the_recorded_trainable_params(tmp_path: Path) -> None:
    url = _url(tmp_path)
    _source(url)
    (start,) = _read(url, WarmSource("old", url), budgets={"trainable_params": 2500})
    by_depth = {t.params["finetune.top_k"]: t for t in start.trials}
    # top_k 2 has 3000 trainable params: 500 over this sweep's budget, infeasible for TPE.
    assert by_depth[2].constraints == {"trainable_params": 500.0}
    assert by_depth[0].constraints == {"trainable_params": -1500.0}
    assert by_depth[1].constraints == {}  # pruned before its count was recorded


def test_the_trials_are_added_once_and_recorded(tmp_path: Path) -> None:
    url = _url(tmp_path)
    _source(url)
    _source(url, "older")
    warm = _read(url, WarmSource("old", url))
    study = optuna.create_study(study_name="new", storage=url, direction="maximize")
    record = add_warm_start(study, warm, created=True)
    assert record == [{"study": "old", "storage": url, "trials": 4, "skipped": 2}]
    # A second invocation of the same sweep adds nothing; one naming another study adds it.
    assert add_warm_start(study, warm, created=False) == record
    both = _read(url, WarmSource("old", url), WarmSource("older", url))
    assert len(add_warm_start(study, both, created=False) or []) == 2
    assert len(study.get_trials()) == 8 and own_trials(study) == []
    assert study.user_attrs[WARM_STARTED_ATTR][1]["study"] == "older"
    assert warm_start_params(study) == {
        "warm_start": "'old' (4 trials, 2 outside this space skipped), "
        "'older' (4 trials, 2 outside this space skipped)"
    }
    # A study that has no record and was created by another invocation is left alone.
    other = optuna.create_study(study_name="other", storage=url, direction="maximize")
    assert add_warm_start(other, warm, created=False) is None and not other.get_trials()
    # Without warm start the creator records an empty list, and the parent run gets no param.
    plain = optuna.create_study(study_name="plain", storage=url, direction="maximize")
    assert add_warm_start(plain, [], created=True) == []
    assert warm_start_params(plain) == {}


def test_a_warm_started_study_passes_on_its_own_trials_only(tmp_path: Path) -> None:
    url = _url(tmp_path)
    _source(url)
    study = optuna.create_study(study_name="mid", storage=url, direction="maximize")
    add_warm_start(
        study, _read(url, WarmSource("old", url), own=WarmSource("mid", url)), created=True
    )
    trial = study.ask(
        {"finetune.top_k": SPACE["finetune.top_k"], "finetune.lr": SPACE["finetune.lr"]}
    )
    study.tell(trial, 0.7)
    # Its warm-start trials are the earlier study's measurements: never carried a second time.
    (start,) = _read(url, WarmSource("mid", url))
    assert len(start.trials) == 1 and start.trials[0].values == [0.7]


def test_tpe_starts_from_the_warm_start_trials(tmp_path: Path) -> None:
    url = _url(tmp_path)
    earlier = optuna.create_study(study_name="old", storage=url, direction="maximize")
    for top_k in range(5):
        for lr in (1e-5, 1e-4, 1e-3, 1e-2):
            value = 0.9 if top_k == 3 else 0.3  # the earlier study's answer: top_k 3
            params = {"finetune.top_k": top_k, "finetune.lr": lr}
            earlier.add_trial(create_trial(params=params, distributions=SPACE, value=value))
    suggested = {}
    for name, sources in (("cold", []), ("warm", [WarmSource("old", url)])):
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=10)
        study = optuna.create_study(
            study_name=name, storage=url, direction="maximize", sampler=sampler
        )
        add_warm_start(study, _read(url, *sources, own=WarmSource(name, url)), created=True)
        suggested[name] = [study.ask(SPACE).params["finetune.top_k"] for _ in range(5)]
    # Cold, TPE draws its 10 start-up trials at random; warm, its 20 earlier trials already pass
    # n_startup_trials, and its density model sends its first suggestion to top_k 3 (the next
    # ones near it: asked trials without values count as bad ones).
    assert suggested["warm"][0] == 3 and set(suggested["warm"]) <= {2, 3, 4}
    assert suggested["cold"] != suggested["warm"]


@pytest.mark.parametrize(
    ("sources", "changes", "message"),
    [
        (
            [("nope", None)],
            {},
            "hydra.sweeper.warm_start: study 'nope' in {url} does not exist.",
        ),
        (
            [("old", "sqlite:///{tmp}/missing.db")],
            {},
            "hydra.sweeper.warm_start: study 'old': sqlite:///{tmp}/missing.db does not exist.",
        ),
        (
            [("old", "journal:{tmp}/missing.log")],
            {},
            "hydra.sweeper.warm_start: study 'old': journal:{tmp}/missing.log does not exist.",
        ),
        (
            [("new", None)],
            {},
            "hydra.sweeper.warm_start: study 'new' in {url} is this sweep's own study.",
        ),
        (
            [("old", None)],
            {"directions": ["maximize", "minimize"], "objectives": ["a", "b"]},
            "hydra.sweeper.warm_start: study 'old' in {url} has direction(s) ['maximize'], "
            "this sweep ['maximize', 'minimize'].",
        ),
        (
            [("named", None)],
            {},
            "hydra.sweeper.warm_start: study 'named' in {url} has objectives ['loss'], "
            "this sweep ['val_accuracy'].",
        ),
        (
            [("old", None)],
            {"space": {**SPACE, "finetune.lora_rank": IntDistribution(1, 8)}},
            "hydra.sweeper.warm_start: study 'old' in {url} did not search finetune.lora_rank "
            "(this sweep searches finetune.lora_rank, finetune.lr, finetune.top_k).",
        ),
        (
            [("old", None)],
            {"space": {**SPACE, "finetune.method": FloatDistribution(0, 1)}},
            "hydra.sweeper.warm_start: study 'old' in {url} searched finetune.method as "
            "categorical ['unfreeze', 'lora'], this sweep as float [0.0, 1.0].",
        ),
        (
            [("old", None)],
            {"space": {"finetune.top_k": IntDistribution(5, 5)}},
            "hydra.sweeper.warm_start: none of the 6 finished trials of study 'old' in {url} lies "
            "inside this sweep's space (finetune.top_k).",
        ),
        (
            [("empty", None)],
            {},
            "hydra.sweeper.warm_start: study 'empty' in {url} has no COMPLETE trial (nor a PRUNED "
            "one with per-epoch values).",
        ),
    ],
)
def test_a_study_that_cannot_warm_start_the_sweep_is_one_line(
    tmp_path: Path, sources: list[tuple[str, str | None]], changes: dict[str, Any], message: str
) -> None:
    url = _url(tmp_path)
    _source(url)
    named = optuna.create_study(study_name="named", storage=url, direction="maximize")
    named.set_metric_names(["loss"])
    optuna.create_study(study_name="empty", storage=url, direction="maximize")
    listed = [
        WarmSource(name, url if where is None else where.format(tmp=tmp_path))
        for name, where in sources
    ]
    with pytest.raises(ConfigError) as error:
        _read(url, *listed, **changes)
    assert str(error.value) == message.format(url=url, tmp=tmp_path)
    # Nothing was created to find that out.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optuna.db"]
    assert "new" not in [s.study_name for s in optuna.get_all_study_summaries(url)]
