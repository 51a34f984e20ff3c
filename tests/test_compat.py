"""Every private API in freezesweep.compat still exists in the installed Keras, Optuna and Hydra.

When an upgrade removes one, these fail first, naming it, instead of a sweep failing deep inside.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import keras
import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from freezesweep import compat


def test_flatten_layers_reaches_into_nested_models() -> None:
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_dense")])
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="head")])
    names = [layer.name for layer in compat.flatten_layers(outer)]
    # Containers come first, nested layers are included, and include_self is honoured.
    assert names[0] == outer.name
    assert {"inner_dense", "head", inner.name} <= set(names)
    assert outer.name not in [
        layer.name for layer in compat.flatten_layers(outer, include_self=False)
    ]


def test_keras_get_file_is_replaced_and_restored() -> None:
    from keras.src.utils import file_utils

    original = file_utils.get_file
    with compat.keras_get_file_replaced(lambda *args, **kwargs: "served"):
        # The applications call this very attribute when they fetch weights.
        assert file_utils.get_file("x", "http://example.invalid/x") == "served"
    assert file_utils.get_file is original


def test_keras_file_hash_check(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    path.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    assert compat.keras_file_hash_matches(str(path), digest)
    assert not compat.keras_file_hash_matches(str(path), "0" * 64)


def test_study_storage_and_trial_id() -> None:
    study = optuna.create_study()
    trial = study.ask()
    storage = compat.study_storage(study)
    # The storage object answers for the trial by its storage id.
    assert isinstance(storage, optuna.storages.BaseStorage)
    assert storage.get_trial(compat.trial_id(trial)).number == trial.number
    study.tell(trial, 1.0)
    assert compat.trial_id(study.trials[0]) == compat.trial_id(trial)


def test_failed_job_return_carries_the_error_without_raising() -> None:
    error = RuntimeError("job 7 died at the scheduler level")
    result = compat.failed_job_return(["a=1"], error)
    assert isinstance(result, JobReturn) and result.status == JobStatus.FAILED
    assert compat.job_error(result) is error
    # The public accessor re-raises, which is why the sweeper reads the private one.
    with pytest.raises(RuntimeError):
        _ = result.return_value
    # What it carries can be replaced, its other fields kept.
    other = ValueError("said otherwise")
    compat.set_job_error(result, other)
    assert compat.job_error(result) is other and result.overrides == ["a=1"]


def test_study_id_names_the_study_in_its_storage() -> None:
    study = optuna.create_study()
    storage = compat.study_storage(study)
    # The storage answers for the study by this id.
    assert storage.get_study_name_from_id(compat.study_id(study)) == study.study_name


def test_submitit_private_members_still_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import submitit
    from submitit.slurm.slurm import SlurmInfoWatcher

    # submitit's SLURM executor looks for `srun` on PATH; nothing here runs it (no cluster needed).
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    watcher = SlurmInfoWatcher(delay_s=60)
    # What the squeue fallback overrides and reads.
    for name in compat.SUBMITIT_WATCHER_PRIVATE:
        assert hasattr(watcher, name), name
    executor = submitit.AutoExecutor(folder=tmp_path, cluster="slurm")
    executor.update_parameters(slurm_partition="cpu", timeout_min=1)
    script = compat.submitit_sbatch_script(executor, command="true", array_size=2)
    assert script.startswith("#!/bin/bash") and "#SBATCH --array=0-1" in script


def test_hydra_basic_launcher_logger_module_exists() -> None:
    import importlib.util

    assert importlib.util.find_spec(compat.HYDRA_BASIC_LAUNCHER_LOGGER) is not None


def test_hydra_applies_value_overrides_and_names_the_override_dirname() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(["a.b=2", "++c=x", "d=1"])
    cfg = OmegaConf.create({"a": {"b": 1}, "d": 0})
    OmegaConf.set_struct(cfg, True)
    compat.hydra_apply_overrides(overrides, cfg)
    assert OmegaConf.to_container(cfg) == {"a": {"b": 2}, "d": 1, "c": "x"}
    dirname = compat.hydra_override_dirname(overrides, exclude_keys=["d"], item_sep=",", kv_sep="=")
    assert dirname == "++c=x,a.b=2"


def test_tf_custom_gradients_registered_in_the_block_are_released() -> None:
    import tensorflow as tf
    from tensorflow.python.framework import ops

    @tf.custom_gradient
    def doubled(x: Any) -> Any:
        return 2.0 * x, lambda upstream: 2.0 * upstream

    registry = ops._gradient_registry._registry
    before = set(registry)
    with compat.tf_custom_gradients_released():
        tf.function(doubled).get_concrete_function(tf.TensorSpec([], tf.float32))
        # Graph-mode tracing registered the gradient globally: what the fence is there for.
        added = set(registry) - before
        assert added and all(k.startswith(compat.TF_CUSTOM_GRADIENT_PREFIX) for k in added)
    assert set(registry) == before


def test_pruner_warmup_steps_reads_percentile_and_median_pruners() -> None:
    # The steps a PercentilePruner (a MedianPruner is one) never prunes; 0 for other pruners.
    assert compat.pruner_warmup_steps(optuna.pruners.MedianPruner(n_warmup_steps=13)) == 13
    assert compat.pruner_warmup_steps(optuna.pruners.PercentilePruner(25.0, n_warmup_steps=4)) == 4
    assert compat.pruner_warmup_steps(optuna.pruners.ThresholdPruner(lower=0.1)) == 0


def test_pareto_front_keeps_the_non_dominated_complete_trials() -> None:
    # Optuna's own front over a list of trials: (0.9, 5) and (0.8, 1) stand, (0.7, 6) does not.
    trials = [
        optuna.trial.create_trial(values=values, params={}, distributions={})
        for values in ([0.9, 5], [0.8, 1], [0.7, 6])
    ]
    directions = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert [t.values for t in compat.pareto_front(trials, directions)] == [[0.9, 5], [0.8, 1]]


def test_study_view_hides_trials_from_every_reader_of_the_study() -> None:
    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.9, 0.7):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
    view = compat.study_view(study, lambda trial: trial.value != 0.9)
    # get_trials, trials and best_trial all read through the filter; the study is the same.
    assert [t.number for t in view.get_trials()] == [0, 2] and len(view.trials) == 2
    assert view.best_trial.number == 2 and study.best_trial.number == 1
    assert view.study_name == study.study_name


def test_distribution_contains_checks_range_step_and_choices() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    # In range and on the step; a value of the wrong kind or a missing choice is not held.
    assert compat.distribution_contains(IntDistribution(0, 4, step=2), 2)
    assert not compat.distribution_contains(IntDistribution(0, 4, step=2), 3)
    assert compat.distribution_contains(FloatDistribution(1e-5, 1e-2, log=True), 1e-3)
    assert not compat.distribution_contains(FloatDistribution(1e-5, 1e-2, log=True), 0.5)
    assert not compat.distribution_contains(FloatDistribution(0, 1), "high")
    assert compat.distribution_contains(CategoricalDistribution(["lora", "bitfit"]), "lora")
    assert not compat.distribution_contains(CategoricalDistribution(["lora", "bitfit"]), "norm")
