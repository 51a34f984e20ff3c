"""The sampler and pruner config groups on the project's own sweep files (composition only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError

from hydra_plugins.freezesweep_sweeper.config import FIRST_STAGE_EPOCHS
from hydra_plugins.freezesweep_sweeper.definition._settings import Settings, read_settings

CONF = Path(__file__).resolve().parents[2] / "conf"


def sweeper_settings(*overrides: str) -> Settings:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    conf: dict[str, Any] = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)  # type: ignore[assignment]
    del conf["_target_"], conf["_recursive_"]
    return read_settings(conf)


def test_the_default_sweep_uses_its_presets_and_base_seed() -> None:
    settings = sweeper_settings()
    assert settings.sampler == {"_target_": "optuna.samplers.TPESampler", "n_startup_trials": 6}
    assert settings.pruner == {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 5,
        "n_warmup_steps": 13,
    }
    assert settings.seed == 0


@pytest.mark.parametrize(
    ("overrides", "warmup"),
    [
        (("schedule.stages.0.epochs=7",), 10),
        # T1's 5 + 5 schedule: the pruner waits out 5 head epochs, not 10; T4 keeps 10 + 10.
        (("experiment=t1_lite0_animals", "sweep=top_k_lr"), 8),
        (("experiment=t4_digits_corrupted", "sweep=top_k_lr"), 13),
    ],
)
def test_the_default_pruner_waits_out_the_first_stage_whatever_its_length(
    overrides: tuple[str, ...], warmup: int
) -> None:
    settings = sweeper_settings(*overrides)
    assert settings.pruner is not None and settings.pruner["n_warmup_steps"] == warmup


def test_the_warmup_resolver_names_the_key_it_needs() -> None:
    # A config without a first stage (a schedule of the user's own shape).
    config = OmegaConf.create({"n_warmup_steps": f"${{{FIRST_STAGE_EPOCHS}:3}}"})
    with pytest.raises(InterpolationResolutionError) as caught:
        _ = config.n_warmup_steps
    assert str(caught.value).splitlines()[0] == (
        "ValueError raised while resolving interpolation: "
        "${freezesweep.first_stage_epochs_plus:3} needs schedule.stages.0.epochs (an integer); "
        "got None."
    )


@pytest.mark.parametrize("sweep", ["top_k_lr", "pareto", "depth_curve"])
def test_a_command_line_group_swaps_a_sweep_files_sampler_cleanly(sweep: str) -> None:
    # Nothing of the sweep file's own sampler (n_startup_trials, population_size) is left over.
    settings = sweeper_settings(f"sweep={sweep}", "hydra/sweeper/sampler=random")
    assert settings.sampler == {"_target_": "optuna.samplers.RandomSampler"}
    assert settings.seed == 0


def test_a_command_line_group_swaps_the_pruner_and_takes_its_arguments_without_plus() -> None:
    settings = sweeper_settings(
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=0.25",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        "hydra.sweeper.sampler.seed=3",
    )
    assert settings.pruner == {
        "_target_": "optuna.pruners.ThresholdPruner",
        "lower": 0.25,
        "n_warmup_steps": 1,
    }
    assert settings.seed == 3  # A sampler seed is the base seed, as before.


@pytest.mark.parametrize("override", ["hydra.sweeper.pruner=null", "~hydra/sweeper/pruner"])
def test_the_sweep_files_pruner_can_be_removed(override: str) -> None:
    assert sweeper_settings(override).pruner is None
