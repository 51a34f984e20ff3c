"""Hydra override grammar -> Optuna distributions, and values -> override strings."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hydra_plugins.freezesweep_sweeper.definition._grammar import (
    check_enqueued,
    format_override,
    parse_search_space,
)


def distribution(grammar: str) -> BaseDistribution:
    return parse_search_space({"k": grammar}).distributions["k"]


def test_choice_is_categorical() -> None:
    # choice(...) and the simple a,b,c form keep their values and types, quotes removed.
    assert distribution("choice(1, 2.5, 'a', b)") == CategoricalDistribution([1, 2.5, "a", "b"])
    assert distribution("adam,sgd") == CategoricalDistribution(["adam", "sgd"])


def test_range_is_int_with_the_stop_excluded() -> None:
    # range(1, 5) is 1..4, as in Python; step and the one-argument form are honoured.
    assert distribution("range(1, 5)") == IntDistribution(1, 4)
    assert distribution("range(1, 10, 3)") == IntDistribution(1, 7, step=3)
    assert distribution("range(4)") == IntDistribution(0, 3)
    assert distribution("range(5, 1, -1)") == IntDistribution(2, 5)


def test_float_range_is_a_stepped_float_ending_at_its_last_value() -> None:
    # range(0.1, 0.5, 0.1) yields 0.1..0.4, so the distribution stops at 0.4.
    assert distribution("range(0.1, 0.5, 0.1)") == FloatDistribution(0.1, 0.4, step=0.1)


def test_interval_is_float_and_int_interval_is_int() -> None:
    # interval() gives floats even for integer bounds; int(interval()) gives an int distribution.
    assert distribution("interval(1, 2)") == FloatDistribution(1.0, 2.0)
    assert distribution("int(interval(1, 8))") == IntDistribution(1, 8)


def test_log_tag_makes_log_distributions() -> None:
    # tag(log, ...) on a float or int interval, in either nesting order.
    assert distribution("tag(log, interval(1e-5, 1e-2))") == FloatDistribution(1e-5, 1e-2, log=True)
    assert distribution("tag(log, int(interval(1, 64)))") == IntDistribution(1, 64, log=True)
    assert distribution("int(tag(log, interval(1, 64)))") == IntDistribution(1, 64, log=True)


def test_plain_values_are_fixed_overrides_and_the_command_line_wins() -> None:
    # Non-sweeps go to every job as they are; a key on the command line replaces the params one.
    space = parse_search_space(
        {"epochs": "3", "lr": "interval(0, 1)"}, ["lr=0.1", "n=range(1,3)", "~extra"]
    )
    assert space.fixed_overrides == ("epochs=3", "lr=0.1", "~extra")
    assert space.distributions == {"n": IntDistribution(1, 2)}


def test_float_distribution_on_an_integer_key_is_rejected() -> None:
    # The composed config says finetune.top_k is an int: interval() would hand it floats.
    config = OmegaConf.create({"finetune": {"top_k": 2, "lr": 0.001}})
    with pytest.raises(ValueError) as error:
        parse_search_space({"finetune.top_k": "interval(0, 8)"}, job_config=config)
    assert str(error.value) == (
        "hydra.sweeper.params.finetune.top_k: finetune.top_k is an integer (currently 2) but "
        "interval(0, 8) gives floats; use int(interval(...)) or range(...)."
    )
    space = parse_search_space(
        {"finetune.top_k": "int(interval(0, 8))", "finetune.lr": "interval(0, 1)"},
        job_config=config,
    )
    assert space.distributions["finetune.top_k"] == IntDistribution(0, 8)


@dataclass
class _Typed:
    # A structured config: `x` is declared an int, so OmegaConf would refuse 0.5 anyway.
    x: int = 1


@dataclass
class _App:
    typed: _Typed = field(default_factory=_Typed)
    x: int = 1


def test_float_range_on_an_untyped_integer_default_goes_through() -> None:
    # Hydra's sweeper example: `x: 1` in plain YAML with x: range(-5.5, 5.5, step=0.5). An untyped
    # key takes floats, so only a typed int node (or finetune.top_k) refuses float distributions.
    plain = OmegaConf.create({"x": 1, "typed": {"x": 1}})
    space = parse_search_space({"x": "range(-5.5, 5.5, step=0.5)"}, job_config=plain)
    assert space.distributions["x"] == FloatDistribution(-5.5, 5.0, step=0.5)
    typed = OmegaConf.structured(_App)
    for key in ("x", "typed.x"):
        with pytest.raises(ValueError) as error:
            parse_search_space({key: "range(-5.5, 5.5, step=0.5)"}, job_config=typed)
        assert str(error.value) == (
            f"hydra.sweeper.params.{key}: {key} is an integer (currently 1) but "
            "range(-5.5, 5.5, step=0.5) gives floats; use int(interval(...)) or range(...)."
        )


@pytest.mark.parametrize(
    ("grammar", "message"),
    [
        ("range(3, 3)", "hydra.sweeper.params.k: range(3, 3, 1) contains no value."),
        ("tag(log, choice(1, 2))", "hydra.sweeper.params.k: tag(log, ...) applies to range()"),
        ("tag(fast, interval(0, 1))", "hydra.sweeper.params.k: unknown tag(s) ['fast']"),
        ("tag(log, interval(0, 1))", "hydra.sweeper.params.k: "),
        ("choice([1, 2], [3])", "hydra.sweeper.params.k: choice values must be"),
        ("interval(0, ", "hydra.sweeper.params.k: cannot parse 'k=interval(0, '"),
    ],
)
def test_bad_search_spaces_name_the_key(grammar: str, message: str) -> None:
    # Every grammar or distribution error starts with the key's full path.
    with pytest.raises(ValueError) as error:
        distribution(grammar)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, "k=3"),
        (1e-05, "k=1e-05"),
        (True, "k=true"),
        (None, "k=null"),
        ("adam", "k=adam"),
        ("1", "k='1'"),
        ("true", "k='true'"),
        ("a,b", "k='a,b'"),
        ("it's", "k='it\\'s'"),
    ],
)
def test_format_override_round_trips_through_hydras_parser(value: object, expected: str) -> None:
    # What the job receives parses back to exactly the value Optuna chose, type included.
    assert format_override("k", value) == expected
    parsed = OverridesParser.create().parse_override(expected).value()
    assert parsed == value and type(parsed) is type(value)


def test_enqueued_values_must_lie_in_the_search_space() -> None:
    # An enqueued value outside its distribution, or an unsearched key, is a config error.
    space = {"n": IntDistribution(1, 4), "opt": CategoricalDistribution(["adam", "sgd"])}
    check_enqueued([{"n": 1, "opt": "sgd"}], space)
    with pytest.raises(ValueError, match=r"^hydra\.sweeper\.enqueue\[0\]\.n: 5 is outside"):
        check_enqueued([{"n": 5}], space)
    with pytest.raises(ValueError, match=r"^hydra\.sweeper\.enqueue\[1\]\.lr: not a searched"):
        check_enqueued([{"n": 2}, {"lr": 0.1}], space)
    check_enqueued([{"lr": 0.1}], space, custom_keys_allowed=True)


@pytest.mark.parametrize(
    ("key", "grammar"),
    [
        ("hydra.job_logging.handlers.file.filename", "choice(a.log, evil_module.py)"),
        ("hydra.job.env_set.LD_PRELOAD", "choice(/tmp/a.so, /tmp/b.so)"),
        ("hydra.sweeper.n_trials", "range(1, 5)"),
    ],
)
def test_a_sweep_over_hydras_own_settings_is_refused(key: str, grammar: str) -> None:
    # Hydra refuses it on the command line; a sampled value would skip the check of Hydra's own
    # settings that each loaded job config gets.
    with pytest.raises(ValueError) as caught:
        parse_search_space({key: grammar})
    assert str(caught.value) == (
        f"hydra.sweeper.params.{key}: a sweep searches the task's settings, not Hydra's own; "
        f"got '{key}={grammar}'."
    )
