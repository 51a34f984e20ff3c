"""The parameter points a sweep composes before its study exists, so a bad value fails first.

Every fixed override is in every job, so one job checks them all; a searched parameter is
checked at the values that can go wrong: each choice of a categorical, both ends of a range.
The enqueued sets are points of their own. The other parameters stay at their first value, so
the number of compositions grows with the sum of the choices, never with their product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["sample_points"]


def sample_points(
    distributions: Mapping[str, BaseDistribution], enqueue: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The distinct points to compose: each choice and range end once, then the enqueued sets.

    Args:
        distributions: the searched parameters by override key. No default.
        enqueue: the `hydra.sweeper.enqueue` sets. Defaults to `()`.

    Example:

        >>> from optuna.distributions import IntDistribution
        >>> sample_points({"finetune.top_k": IntDistribution(0, 4)})
        [{'finetune.top_k': 0}, {'finetune.top_k': 4}]
    """
    base = {key: _values(distribution)[0] for key, distribution in distributions.items()}
    points = [base]
    for key, distribution in distributions.items():
        points += [{**base, key: value} for value in _values(distribution)[1:]]
    points += [{**base, **dict(params)} for params in enqueue]
    distinct: list[dict[str, Any]] = []
    for point in points:
        if point not in distinct:
            distinct.append(point)
    return distinct


def _values(distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    assert isinstance(distribution, IntDistribution | FloatDistribution)
    ends = [distribution.low, distribution.high]
    return ends[:1] if distribution.low == distribution.high else ends
