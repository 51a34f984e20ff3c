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
from hydra_plugins.freezesweep_sweeper.definition._grammar import parse_search_space
from hydra_plugins.freezesweep_sweeper.loop._preflight import sample_points
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.slow  # 200 validations (a backbone built for each) and a few trials

_RUNS = 3  # accepted definitions trained for real (shrunken)

# Half the definitions are drawn from valid values only (`clean`), half with bad values mixed
# in: both outcomes stay common, and the clean half still varies stages, windows, rates and
# methods (a clean definition may yet be refused: an offset past the backbone's units, say).
_GOOD_NUMBERS = st.floats(min_value=1e-5, max_value=1.0)
_BAD_NUMBERS = st.sampled_from([0, -1.0, 1e9, "fast", None])
_GOOD_UNFREEZE = st.one_of(
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["all", "none", "gradual", "block_*", "${finetune.top_k}"]),
)
_BAD_UNFREEZE = st.sampled_from([-1, 6, "", None, True])
_GOOD_OPTIMIZERS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"_target_": st.sampled_from(["keras.optimizers.Adam", "keras.optimizers.SGD"])}
    ),
    st.fixed_dictionaries(
        {"_target_": st.just("keras.optimizers.SGD"), "momentum": st.sampled_from([0.0, 0.9])}
    ),
)
_BAD_OPTIMIZERS = st.fixed_dictionaries(
    {
        "_target_": st.sampled_from(["keras.optimizers.SGD", "os.system", "keras.layers.Dense"]),
        "momentum": st.sampled_from([0.9, -1, "x"]),
    }
)
_GOOD_VALUES = [
    "range(0, 5)", "range(0, 3)", "choice(0, 1)", "choice(0, 2, 4)", "int(interval(0, 4))",
    "interval(1e-4, 1e-2)", "tag(log, interval(1e-5, 1e-2))", "choice(unfreeze, bitfit, norm)",
    "choice(frozen, train)",
]  # fmt: skip
_BAD_VALUES = [
    "range(0, 9)", "range(3, 1)", "tag(log, interval(0, 1))", "choice(lora, magic)", "choice(",
    "interval(a, b)", "7", "",
]  # fmt: skip
_KEYS = ["finetune.top_k", "finetune.lr", "finetune.offset", "finetune.method", "schedule.bn"]
_GOOD_BY_KEY = {
    "finetune.top_k": ["range(0, 5)", "range(0, 3)", "choice(0, 1)", "choice(0, 2, 4)"],
    "finetune.lr": ["interval(1e-4, 1e-2)", "tag(log, interval(1e-5, 1e-2))"],
    "finetune.offset": ["choice(0, 1)", "int(interval(0, 1))"],
    "finetune.method": ["choice(unfreeze, bitfit, norm)"],
    "schedule.bn": ["choice(frozen, train)"],
}


def _either(draw: st.DrawFn, clean: bool, good: st.SearchStrategy[Any], bad: Any) -> Any:
    """A good value, or (not clean) a good or a bad one."""
    return draw(good if clean else st.one_of(good, bad))


@st.composite
def _stage(draw: st.DrawFn, index: int, clean: bool) -> dict[str, Any]:
    stage: dict[str, Any] = {
        # Clean stages have unique names; a repeated name (refused) is one of the bad values.
        "name": f"stage{index}" if clean else draw(st.sampled_from([f"stage{index}", "head"])),
        "unfreeze": _either(draw, clean, _GOOD_UNFREEZE, _BAD_UNFREEZE),
        "epochs": _either(draw, clean, st.sampled_from([1, 2]), st.sampled_from([0, -3, "two"])),
    }
    if stage["unfreeze"] == "gradual":
        stage["up_to"] = _either(draw, clean, st.sampled_from([1, 2]), st.sampled_from([9, -1]))
    lr_keys = draw(
        st.sampled_from([("lr",), ("lr_multiplier",)])
        if clean
        else st.sampled_from([("lr",), ("lr_multiplier",), (), ("lr", "lr_multiplier")])
    )
    for key in lr_keys:
        stage[key] = _either(draw, clean, _GOOD_NUMBERS, _BAD_NUMBERS)
    if draw(st.integers(0, 3)) == 0:
        stage["offset"] = _either(
            draw, clean, st.sampled_from([0, 1, "${finetune.offset}"]), st.sampled_from([-1, 9])
        )
    optimizer = _either(draw, clean, _GOOD_OPTIMIZERS, _BAD_OPTIMIZERS)
    if optimizer is not None:
        stage["optimizer"] = optimizer
    if draw(st.integers(0, 4)) == 0:
        stage["early_stopping"] = _either(
            draw,
            clean,
            st.just({"patience": 1}),
            st.sampled_from([{"patiense": 2}, {"patience": -1}, "yes"]),
        )
    return stage


@st.composite
def _definition(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """A schedule (`schedule.*`) and a search space (`hydra.sweeper.params`)."""
    clean = draw(st.booleans())
    count = draw(st.sampled_from([1, 2, 3] if clean else [0, 1, 2, 3]))
    schedule = {
        "name": "random",
        "unit": _either(draw, clean, st.sampled_from(["block", "layer"]), st.just("blok")),
        "bn": _either(draw, clean, st.sampled_from(["frozen", "train"]), st.just("froze")),
        "stages": [draw(_stage(index, clean)) for index in range(count)],
    }
    if clean:  # each key searched over values of its own kind
        keys = draw(st.sets(st.sampled_from(_KEYS), max_size=3))
        return schedule, {key: draw(st.sampled_from(_GOOD_BY_KEY[key])) for key in sorted(keys)}
    values = st.sampled_from(_GOOD_VALUES + _BAD_VALUES)
    params = draw(st.dictionaries(st.sampled_from(_KEYS), values, max_size=3))
    return schedule, params


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
    @given(definition=_definition())
    def check(definition: tuple[dict[str, Any], dict[str, str]]) -> None:
        schedule, params = definition
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
