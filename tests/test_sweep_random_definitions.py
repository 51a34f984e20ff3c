"""200 random schedules and search spaces (hypothesis): each is accepted by the sweep's own
validation and runs, or is refused with a one-line `ValueError` (our `ConfigError` is one);
never another exception.

The validation is the sweeper's, before any study: `parse_search_space` on the generated
`params`, then the project's preflight hook on the job of every choice and range end (each read
as a trial, optimizers built, depths checked against the backbone). Training every accepted
definition would take hours on 2 cores: the first few accepted ones (`_RUNS`) run as shrunken
trials (5 images per class, 1-2 epochs per stage, no tracking).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf, open_dict

from freezesweep.errors import ConfigError
from freezesweep.study.hooks import preflight
from freezesweep.trial import run_trial
from hydra_plugins.freezesweep_sweeper._grammar import parse_search_space
from hydra_plugins.freezesweep_sweeper._samples import sample_points
from tests.shrink import compose_config

pytestmark = pytest.mark.slow  # 200 validations (a backbone built for each) and a few trials

_RUNS = 3  # accepted definitions trained for real (shrunken)

# Valid values are drawn more often than each kind of bad one, so that both outcomes are common.
_NUMBERS = st.one_of(
    st.floats(min_value=1e-5, max_value=1.0),
    st.floats(min_value=1e-5, max_value=1.0),
    st.sampled_from([0, -1.0, 1e9, "fast", None]),
)
_UNFREEZE = st.one_of(
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=-1, max_value=6),
    st.sampled_from(["all", "none", "gradual", "block_*", "", "${finetune.top_k}", None, True]),
)
_OPTIMIZERS = st.one_of(
    st.none(),
    st.none(),
    st.fixed_dictionaries(
        {"_target_": st.sampled_from(["keras.optimizers.Adam", "keras.optimizers.SGD"])}
    ),
    st.fixed_dictionaries(
        {
            "_target_": st.sampled_from(
                ["keras.optimizers.SGD", "os.system", "keras.layers.Dense"]
            ),
            "momentum": st.sampled_from([0.9, -1, "x"]),
        }
    ),
)


@st.composite
def _stage(draw: st.DrawFn, index: int) -> dict[str, Any]:
    stage: dict[str, Any] = {
        "name": draw(st.sampled_from([f"stage{index}", "head", "finetune"])),
        "unfreeze": draw(_UNFREEZE),
        "epochs": draw(st.sampled_from([1, 1, 1, 1, 2, 0, -3, "two"])),
    }
    if stage["unfreeze"] == "gradual":
        stage["up_to"] = draw(st.sampled_from([1, 2, 9, -1, "x"]))
    lr_keys = draw(
        st.sampled_from([("lr",), ("lr_multiplier",)] * 3 + [(), ("lr", "lr_multiplier")])
    )
    for key in lr_keys:
        stage[key] = draw(_NUMBERS)
    if draw(st.integers(0, 3)) == 0:
        stage["offset"] = draw(st.sampled_from([0, 1, 3, -1, 9, "${finetune.offset}"]))
    optimizer = draw(_OPTIMIZERS)
    if optimizer is not None:
        stage["optimizer"] = optimizer
    if draw(st.integers(0, 4)) == 0:
        stage["early_stopping"] = draw(
            st.sampled_from([{"patience": 1}, {"patiense": 2}, {"patience": -1}, "yes"])
        )
    return stage


@st.composite
def _schedule(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.sampled_from([1, 1, 2, 2, 3, 0]))
    return {
        "name": "random",
        "unit": draw(st.sampled_from(["block", "block", "layer", "blok"])),
        "bn": draw(st.sampled_from(["frozen", "frozen", "train", "froze"])),
        "stages": [draw(_stage(index)) for index in range(count)],
    }


_SPACES = st.dictionaries(
    st.sampled_from(
        ["finetune.top_k", "finetune.lr", "finetune.offset", "finetune.method", "schedule.bn"]
    ),
    st.sampled_from(
        [
            "range(0, 5)",
            "range(0, 3)",
            "choice(0, 1)",
            "range(0, 9)",
            "range(3, 1)",
            "choice(0, 2, 4)",
            "int(interval(0, 4))",
            "interval(1e-4, 1e-2)",
            "tag(log, interval(1e-5, 1e-2))",
            "tag(log, interval(0, 1))",
            "choice(unfreeze, bitfit, norm)",
            "choice(lora, magic)",
            "choice(frozen, train)",
            "choice(",
            "interval(a, b)",
            "7",
            "",
        ]
    ),
    max_size=3,
)


def _validate(
    base: DictConfig, schedule: dict[str, Any], params: dict[str, str]
) -> list[DictConfig]:
    """The sweeper's checks before a study: the search space, then every sample job."""
    config = copy.deepcopy(base)
    with open_dict(config):
        config.schedule = OmegaConf.create(schedule)
    space = parse_search_space(params, job_config=config)
    jobs = []
    for point in sample_points(space.distributions, []):
        job = copy.deepcopy(config)
        for key, value in point.items():
            OmegaConf.update(job, key, value)
        jobs.append(job)
    preflight(config=config, jobs=jobs)
    return jobs


@pytest.mark.timeout(900)
def test_random_definitions_are_accepted_and_run_or_refused_in_one_line(tmp_path: Path) -> None:
    base = compose_config(tmp_path, "tracking.enabled=false", return_hydra_config=True)
    accepted: list[DictConfig] = []
    outcomes = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=200, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(schedule=_schedule(), params=_SPACES)
    def check(schedule: dict[str, Any], params: dict[str, str]) -> None:
        try:
            jobs = _validate(base, schedule, params)
        except ValueError as error:
            # Refused by our validation: one line, never a traceback's worth of text.
            message = str(error)
            assert message and "\n" not in message, repr(message)
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        if len(accepted) < _RUNS:
            accepted.append(jobs[0])

    check()
    print(f"random definitions: {outcomes}")  # shown with -s: how the 200 split
    assert outcomes["accepted"] + outcomes["refused"] >= 200
    # Both kinds were generated (a generator that only produced garbage would prove little).
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 20, outcomes
    for job in accepted:
        task = copy.deepcopy(job)
        with open_dict(task):
            task.pop("hydra")
        value = run_trial(task, output_dir=tmp_path / "runs" / str(id(task)))
        assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert isinstance(ConfigError("x"), ValueError)  # the refusals above include ConfigErrors
