"""Job configs re-valued from an earlier job of the same shape equal Hydra composing them."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from freezesweep import compat
from hydra_plugins.freezesweep_sweeper.jobs._config_reuse import ReusingConfigLoader

CONF = Path(__file__).resolve().parents[2] / "conf"


Loaders = tuple[ReusingConfigLoader, ConfigLoader, DictConfig]


@pytest.fixture
def loaders(tmp_path: Path) -> Iterator[Loaders]:
    """A reusing loader, Hydra's loader under it (project configs), the sweep's master config."""
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        inner = GlobalHydra.instance().config_loader()
        master = inner.load_configuration(
            "config", overrides=[f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN
        )
        yield ReusingConfigLoader(inner), inner, master


def job(number: int, *values: str) -> list[str]:
    """The lines the sweeper gives a trial's job (`_overrides.job_overrides`)."""
    return [
        *values,
        f"++trial.number={number}",
        "++trial.study_name=s",
        "++trial.storage=sqlite:////tmp/optuna.db",
        f"hydra.sweep.subdir=trial-{number:04d}",
    ]


def as_data(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)


def test_trials_after_the_first_of_a_shape_are_revalued_and_equal_hydras_composition(
    loaders: Loaders,
) -> None:
    loader, inner, master = loaders
    values = [("finetune.top_k=0", "finetune.lr=0.01"), ("finetune.top_k=3", "finetune.lr=1e-4")]
    values += [(f"finetune.top_k={k}", f"finetune.lr={lr}") for k, lr in [(1, 3e-4), (2, 0.1)]]
    for number, pair in enumerate(values):
        got = loader.load_sweep_config(master, job(number, *pair))
        assert as_data(got) == as_data(inner.load_sweep_config(master, job(number, *pair)))
        assert got.finetune.top_k == int(pair[0].split("=")[1])
        assert got.hydra.overrides.task[0] == pair[0]
        assert got.hydra.job.override_dirname.startswith("++trial.number=")
    # The first of the shape is composed, the second checked against Hydra, the rest re-valued.
    assert loader.reused == 2


def test_what_a_copy_cannot_reproduce_is_composed_by_hydra(loaders: Loaders) -> None:
    loader, inner, master = loaders
    shapes = [
        ["schedule=two_stage"],
        ["schedule=gradual"],  # a config group: its defaults differ
        ["schedule=head_only"],
        ["+extra=1"],  # an addition cannot be applied twice
        ["+extra=2"],
        ["finetune.top_k=1", "+extra=3"],
    ]
    for number, values in enumerate(shapes):
        got = loader.load_sweep_config(master, job(number, *values))
        assert as_data(got) == as_data(inner.load_sweep_config(master, job(number, *values)))
    assert loader.reused == 0


def test_a_bad_value_fails_as_hydra_fails_it(loaders: Loaders) -> None:
    loader, inner, master = loaders
    for number, flag in enumerate(["true", "false", "true"]):
        loader.load_sweep_config(master, job(number, f"hydra.job.chdir={flag}"))
    with pytest.raises(ConfigCompositionException) as ours:
        loader.load_sweep_config(master, job(3, "hydra.job.chdir=maybe"))
    with pytest.raises(ConfigCompositionException) as hydras:
        inner.load_sweep_config(master, job(3, "hydra.job.chdir=maybe"))
    assert str(ours.value) == str(hydras.value)


def test_a_shape_whose_copy_differs_from_hydras_composition_is_never_reused(
    loaders: Loaders, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader, _, master = loaders
    monkeypatch.setattr(compat, "hydra_override_dirname", lambda *_, **__: "wrong")
    for number in range(4):
        got = loader.load_sweep_config(master, job(number, f"finetune.top_k={number}"))
        assert got.hydra.job.override_dirname != "wrong"
    assert loader.reused == 0


def test_a_pickled_loader_leaves_its_configs_behind_and_still_composes(loaders: Loaders) -> None:
    loader, _, master = loaders
    loader.load_sweep_config(master, job(0, "finetune.top_k=1"))
    copied = pickle.loads(pickle.dumps(loader))
    assert copied.reused == 0 and not copied._shapes
    got = copied.load_sweep_config(master, job(1, "finetune.top_k=2"))
    assert got.finetune.top_k == 2
