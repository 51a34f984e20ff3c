"""Zero-cost depth scores: read from the recorded search space, computed once per study, enqueued,
and reported beside the trained accuracy (on the parent MLflow run in a real sweep)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from freezesweep import runtime
from freezesweep.errors import ConfigError
from freezesweep.prepare import prepare_trial
from freezesweep.spec.read import job_spec, zero_cost_spec
from freezesweep.study import zero_cost
from freezesweep.study.attributes import DEFINITION_ATTR
from freezesweep.train.transferability import depth_scores
from tests.helpers.app_inprocess import run_app
from tests.helpers.shrink import compose_config, small_overrides

DEPTH = "finetune.top_k"


def _study(params: dict[str, str]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(DEFINITION_ATTR, {"params": params})
    return study


def test_searched_depths_come_from_the_recorded_space() -> None:
    cases = {
        repr(IntDistribution(0, 4)): [0, 1, 2, 3, 4],
        repr(IntDistribution(1, 7, step=3)): [1, 4, 7],
        repr(CategoricalDistribution((4, 0, 2))): [0, 2, 4],
        repr(CategoricalDistribution(("a", "b"))): [],
        repr(FloatDistribution(0.0, 1.0)): [],
    }
    for text, depths in cases.items():
        assert zero_cost.searched_depths(_study({DEPTH: text})) == depths, text
    assert zero_cost.searched_depths(_study({"finetune.lr": "x"})) == []
    assert zero_cost.searched_depths(optuna.create_study()) == []


def test_bad_settings_are_one_line_naming_the_key(tmp_path: Path) -> None:
    assert not zero_cost_spec(compose_config(tmp_path)).enabled  # off by default
    cases = {
        "zero_cost.score=h_score": "zero_cost.score must be one of none, log_me; got 'h_score'.",
        "zero_cost.enqueue=-1": "zero_cost.enqueue must be >= 0; got -1.",
        "zero_cost.max_examples=1": "zero_cost.max_examples must be >= 2; got 1.",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError) as error:
            zero_cost_spec(compose_config(tmp_path, override))
        assert str(error.value) == message


@pytest.mark.timeout(120)
def test_scores_are_logme_computed_once_and_the_best_depths_enqueued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = compose_config(
        tmp_path, "zero_cost.score=log_me", "zero_cost.enqueue=2", "zero_cost.max_examples=40",
        return_hydra_config=True,
    )  # fmt: skip
    study = _study({DEPTH: repr(IntDistribution(0, 3))})
    scores = zero_cost.study_scores(study, config)
    # The reference: LogME of each depth's cut on the same trial, computed directly.
    spec = job_spec(config)
    runtime.seed_everything(spec.seed)
    trial = prepare_trial(spec)
    expected = depth_scores(trial.model, trial.backbone, trial.data, [0, 1, 2, 3], "block", 40)
    assert scores is not None and scores.keys() == expected.keys()
    np.testing.assert_allclose([scores[d] for d in expected], list(expected.values()), rtol=1e-5)
    # Kept on the study; the two best-scoring depths wait as the first trials.
    assert zero_cost.stored_scores(study, "log_me") == pytest.approx(scores)
    best = sorted(scores, key=lambda depth: -scores[depth])[:2]
    space = {DEPTH: IntDistribution(0, 3)}
    assert [study.ask(space).params[DEPTH] for _ in best] == best
    # A resumed sweep (or another worker) reads them back: nothing is scored or enqueued again.
    monkeypatch.setattr(zero_cost, "_score", lambda *a: pytest.fail("scored again"))
    assert zero_cost.study_scores(study, config) == pytest.approx(scores)
    assert len(study.trials) == 2


def test_report_files_rank_the_scores_against_the_trained_accuracy(tmp_path: Path) -> None:
    study = optuna.create_study()
    study.set_user_attr(
        zero_cost.SCORES_ATTR,
        {"score": "log_me", "scores": {"0": 0.1, "1": 0.3, "2": 0.2, "3": 0.4}},
    )
    assert zero_cost.report_files(optuna.create_study(), pd.DataFrame(), tmp_path) == {}
    table = pd.DataFrame({DEPTH: [0, 1, 1, 2, 3], "val_accuracy": [0.5, 0.6, 0.8, 0.7, 0.9]})
    files = zero_cost.report_files(study, table, tmp_path / "report")
    frame = pd.read_csv(files["zero_cost.csv"])
    assert frame.to_dict("list") == {
        "depth": [0, 1, 2, 3],
        "score": [0.1, 0.3, 0.2, 0.4],
        "best_val_accuracy": [0.5, 0.8, 0.7, 0.9],
    }
    assert zero_cost.kendall_tau(frame) == pytest.approx(1.0)
    assert files["zero_cost.png"].read_bytes().startswith(b"\x89PNG")
    # Before any depth trained, the plot says so and tau is unknown.
    assert (
        zero_cost.kendall_tau(zero_cost.ranked(study.user_attrs["zero_cost_scores"], table[:0]))
        is None
    )


@pytest.mark.slow  # a real sweep of two tiny trials
@pytest.mark.timeout(300)
def test_a_sweep_enqueues_the_best_depth_and_logs_the_scores_on_its_parent_run(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    # A bad setting stops the sweep in its preflight: one line, no study, no folder, no run.
    refused = run_app(tmp_path, "-m", *small_overrides(tmp_path), "zero_cost.score=h_score")
    assert refused.returncode == 1
    assert "zero_cost.score must be one of none, log_me; got 'h_score'." in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    finished = run_app(
        tmp_path, "-m", *small_overrides(tmp_path),
        "hydra.sweeper.study_name=scored", f"hydra.sweep.dir={tmp_path}/sweeps/scored",
        f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.enqueue=[]", "zero_cost.score=log_me", "zero_cost.enqueue=1",
        "zero_cost.max_examples=40",
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]
    study = optuna.load_study(study_name="scored", storage=storage)
    scores = zero_cost.stored_scores(study, "log_me")
    assert scores is not None and len(scores) >= 2
    first = study.trials[0]
    assert first.params[DEPTH] == max(scores, key=lambda depth: scores[depth])
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("scored")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`freezesweep.role` = 'study'"
    )
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    names = {item.path for item in client.list_artifacts(parents[0].info.run_id)}
    assert {"zero_cost.csv", "zero_cost.png"} <= names
    local = client.download_artifacts(parents[0].info.run_id, "zero_cost.csv", str(tmp_path))
    logged = pd.read_csv(local)
    assert logged["depth"].tolist() == sorted(scores)
    assert logged["best_val_accuracy"].notna().sum() >= 1  # the trained depths joined them
