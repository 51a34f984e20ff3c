"""Hydra's override grammar -> Optuna distributions, and trial values -> override strings.

| override                        | distribution                                         |
|---------------------------------|------------------------------------------------------|
| `choice(a, b, c)` or `a,b,c`    | `CategoricalDistribution((a, b, c))`                 |
| `range(start, stop[, step])`    | `IntDistribution(start, last, step)`; stop excluded  |
| `interval(a, b)`                | `FloatDistribution(a, b)`                            |
| `int(interval(a, b))`           | `IntDistribution(a, b)`                              |
| `tag(log, interval(a, b))`      | `FloatDistribution(a, b, log=True)`                  |
| `tag(log, int(interval(a, b)))` | `IntDistribution(a, b, log=True)`                    |

A `range()` with a float bound or step becomes a stepped `FloatDistribution` that stops at the
last value the range yields. Anything that is not a sweep is a fixed override passed to every job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    ParsedElementType,
    Quote,
    QuotedString,
    RangeSweep,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.nodes import IntegerNode
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

_KNOWN_TAGS = {"log"}
# Integer-only keys of the project's own plain-YAML config: a unit count, never a fraction.
# Elsewhere only a typed node (an `int` field of a structured config) is integer-only, since an
# untyped `x: 1` takes floats too, as it does under Hydra's Optuna sweeper.
PROJECT_INTEGER_KEYS = frozenset({"finetune.top_k"})


@dataclass(frozen=True)
class SearchSpace:
    """The searched distributions (by override key) and the overrides every job gets as they are."""

    distributions: dict[str, BaseDistribution]
    fixed_overrides: tuple[str, ...]


def parse_search_space(
    params: Mapping[str, str],
    arguments: Sequence[str] = (),
    *,
    job_config: DictConfig | None = None,
    config_loader: ConfigLoader | None = None,
) -> SearchSpace:
    """Turns `hydra.sweeper.params` plus the command-line overrides into a `SearchSpace`.

    Args:
        params: `hydra.sweeper.params`, key -> override-grammar string.
        arguments: command-line overrides; for a key given in both, the command line wins.
        job_config: the composed config, used to reject a float distribution on an
            integer-only key (a typed `int` node, or one of `PROJECT_INTEGER_KEYS`).
            Defaults to `None` (no check).
        config_loader: Hydra's config loader, needed only by `glob()` over config groups.
            Defaults to `None`.

    Raises:
        ValueError: naming the key, for grammar errors and distributions Optuna rejects.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    lines = [(f"hydra.sweeper.params.{key}", f"{key}={value}") for key, value in params.items()]
    lines += [(f"command-line override '{line}'", line) for line in arguments]

    # Keyed so that a later line (the command line) replaces an earlier one for the same key.
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for where, line in lines:
        try:
            override = parser.parse_override(line)
        except Exception as error:  # Hydra raises its own exception types for grammar errors.
            raise ValueError(f"{where}: cannot parse '{line}': {error}") from error
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override() and override.is_hydra_override():
            # As Hydra refuses on the command line: a job's `hydra.*` values are checked once,
            # as Hydra loads the job's config, and a sampled value would change them unchecked.
            raise ValueError(
                f"{where}: a sweep searches the task's settings, not Hydra's own; got '{line}'."
            )
        if override.is_sweep_override():
            current = _integer_only_value(job_config, override.key_or_group)
            distributions[key] = to_distribution(override, where=where, current=current)
        else:
            assert override.input_line is not None
            fixed[key] = override.input_line
    return SearchSpace(distributions, tuple(fixed.values()))


def to_distribution(override: Override, *, where: str, current: Any = None) -> BaseDistribution:
    """Maps one sweep override to its Optuna distribution (see the module docstring).

    Args:
        override: a parsed sweep override.
        where: how the error messages name the override, e.g. `hydra.sweeper.params.lr`.
        current: the key's value in the composed config when the key is integer-only (see
            `parse_search_space`). Defaults to `None` (any number goes).
    """
    key = override.key_or_group
    value = override.value()
    tags = set(getattr(value, "tags", ()))
    if tags - _KNOWN_TAGS:
        raise ValueError(
            f"{where}: unknown tag(s) {sorted(tags - _KNOWN_TAGS)}; the only tag is 'log'."
        )
    log = "log" in tags
    distribution: BaseDistribution
    try:
        if override.is_choice_sweep():
            distribution = _categorical(override, where=where, log=log)
        elif isinstance(value, RangeSweep):
            distribution = _stepped(value, where=where, log=log)
        elif isinstance(value, IntervalSweep):
            assert value.start is not None and value.end is not None
            if isinstance(value.start, int) and isinstance(value.end, int):
                distribution = IntDistribution(value.start, value.end, log=log)
            else:
                distribution = FloatDistribution(value.start, value.end, log=log)
        else:
            raise ValueError(f"{where}: unsupported sweep {override.get_value_string()}.")
    except ValueError as error:
        if str(error).startswith(where):
            raise
        raise ValueError(f"{where}: {error}") from error

    if (
        isinstance(distribution, FloatDistribution)
        and isinstance(current, int)
        and not isinstance(current, bool)
    ):
        raise ValueError(
            f"{where}: {key} is an integer (currently {current}) but "
            f"{override.get_value_string()} gives floats; use int(interval(...)) or range(...)."
        )
    return distribution


def format_override(key: str, value: Any) -> str:
    """`key=value` in the override grammar, quoting a string only where the grammar needs it.

    A string such as `1`, `true`, `null` or `a,b` would come back as another type or a sweep,
    so it is quoted; a plain word (a config-group option, say) is left bare.
    """
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, int | float):
        return f"{key}={value!r}"
    if not isinstance(value, str):
        raise TypeError(f"{key}: cannot pass {type(value).__name__} {value!r} as an override.")
    bare = f"{key}={value}"
    try:
        parsed = OverridesParser.create().parse_override(bare)
        if not parsed.is_sweep_override() and parsed.value() == value:
            return bare
    except Exception:  # Not parseable bare: quoting below makes it a plain string.
        pass
    return f"{key}={QuotedString(text=value, quote=Quote.single).with_quotes()}"


def _categorical(override: Override, *, where: str, log: bool) -> CategoricalDistribution:
    if log:
        raise ValueError(f"{where}: tag(log, ...) applies to range() and interval(), not choice().")
    choices: list[CategoricalChoiceType] = []
    for choice in override.sweep_iterator(transformer=_plain):
        if choice is None or isinstance(choice, bool | int | float | str):
            choices.append(choice)
        else:
            raise ValueError(
                f"{where}: choice values must be null, bool, int, float or str; got {choice!r}."
            )
    return CategoricalDistribution(choices)


def _stepped(sweep: RangeSweep, *, where: str, log: bool) -> BaseDistribution:
    # Hydra's own iterator gives the exact end-exclusive values (range(1, 5) -> 1, 2, 3, 4).
    values = list(sweep.range())
    if not values:
        raise ValueError(
            f"{where}: range({sweep.start}, {sweep.stop}, {sweep.step}) contains no value."
        )
    step = abs(sweep.step)
    low, high = min(values), max(values)
    if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
        return IntDistribution(int(low), int(high), log=log, step=int(step))
    return FloatDistribution(float(low), float(high), log=log, step=float(step))


def _plain(element: ParsedElementType) -> Any:
    return element.text if isinstance(element, QuotedString) else element


def _integer_only_value(config: DictConfig | None, key: str) -> Any:
    """The key's current value if the key is integer-only, else None."""
    if config is None:
        return None
    parent_key, _, name = key.rpartition(".")
    try:
        value = OmegaConf.select(config, key, default=None, throw_on_missing=False)
        parent = OmegaConf.select(config, parent_key) if parent_key else config
        node = parent._get_node(name) if isinstance(parent, DictConfig) else None
    except Exception:  # An unresolvable interpolation says nothing about the key's type.
        return None
    if isinstance(node, IntegerNode) or key in PROJECT_INTEGER_KEYS:
        return value
    return None


def check_enqueued(
    param_sets: Sequence[Mapping[str, Any]],
    distributions: Mapping[str, BaseDistribution],
    *,
    custom_keys_allowed: bool = False,
) -> None:
    """Rejects an enqueued value outside its distribution, or a key that is not searched.

    Args:
        param_sets: `hydra.sweeper.enqueue`.
        distributions: the parsed search space.
        custom_keys_allowed: a `custom_search_space` may suggest keys `params` does not list.
            Defaults to `False`.
    """
    for index, params in enumerate(param_sets):
        for key, value in params.items():
            where = f"hydra.sweeper.enqueue[{index}].{key}"
            distribution = distributions.get(key)
            if distribution is None:
                if custom_keys_allowed:
                    continue
                raise ValueError(
                    f"{where}: not a searched parameter (searched: {', '.join(distributions)})."
                )
            if not _contains(distribution, value):
                raise ValueError(f"{where}: {value!r} is outside {distribution}.")


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return any(type(value) is type(c) and value == c for c in distribution.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(distribution, IntDistribution):
        return (
            isinstance(value, int)
            and distribution.low <= value <= distribution.high
            and (value - distribution.low) % distribution.step == 0
        )
    assert isinstance(distribution, FloatDistribution)
    return distribution.low <= value <= distribution.high
