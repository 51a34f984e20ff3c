"""What the study's MLflow parent run summarizes, read from the study: the best trial, the search
space as params, the depth table (best val_accuracy per unfrozen depth).

Optuna and pandas only; `freezesweep.tracking` puts the values on the run.
"""

from __future__ import annotations

import re

import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from freezesweep.redaction import redact
from freezesweep.study.own_trials import own_trials
from freezesweep.study.pareto_plot import ACCURACY, DEPTH, METHOD, PARAMS

# The search space's params on the parent run: `search_space.finetune.top_k` and so on.
SPACE_PREFIX = "search_space."
# MLflow 3.17 param names: alphanumerics, `_`, `-`, `.`, ` `, `:` and `/` only.
_NOT_IN_PARAM_NAMES = re.compile(r"[^\w\-. :/]")


def search_space(study: optuna.Study) -> dict[str, str]:
    """Each searched parameter's distribution as text, keyed `search_space.<name>`.

    `int [0, 6]`, `float [1e-05, 0.01] log`, `categorical ['unfreeze', 'lora']`; a parameter
    whose distribution changed between trials shows the newest trial's.

    Args:
        study: the study.
    """
    found: dict[str, BaseDistribution] = {}
    for trial in own_trials(study):
        found.update(trial.distributions)
    return {f"{SPACE_PREFIX}{param_name(name)}": describe(found[name]) for name in sorted(found)}


def param_name(override_key: str) -> str:
    """A searched override's key as an MLflow param name: Hydra's `+`, `++` and `~` prefixes
    dropped (`+schedule.stages.1.optimizer.beta_1` searches that key), and any character MLflow
    refuses in a name replaced by `_`."""
    return _NOT_IN_PARAM_NAMES.sub("_", override_key.lstrip("+~"))


def describe(distribution: BaseDistribution) -> str:
    """One distribution as text, e.g. `float [1e-05, 0.01] log`.

    Args:
        distribution: an Optuna distribution.
    """
    if isinstance(distribution, CategoricalDistribution):
        return f"categorical {list(distribution.choices)}"
    if isinstance(distribution, IntDistribution | FloatDistribution):
        kind = "int" if isinstance(distribution, IntDistribution) else "float"
        text = f"{kind} [{distribution.low}, {distribution.high}]"
        if distribution.log:
            return f"{text} log"
        return f"{text} step {distribution.step}" if distribution.step not in (None, 1) else text
    return repr(distribution)


def best_trial(table: pd.DataFrame) -> pd.Series | None:
    """The completed trial with the highest val_accuracy (fewest trainable parameters among
    equals, then the earliest); `None` before any trial completed.

    Args:
        table: all trials (`report.trials_frame`).
    """
    done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna()] if len(table) else table
    if not len(done):
        return None
    order = done.assign(_size=done[PARAMS].fillna(float("inf")))
    ranked = order.sort_values([ACCURACY, "_size", "number"], ascending=[False, True, True])
    return ranked.drop(columns="_size").iloc[0]


def depth_table(table: pd.DataFrame) -> pd.DataFrame:
    """Best completed val_accuracy per unfrozen depth (and method, when methods were searched):
    `depth`, `method`, `val_accuracy`, `trainable_params` and `number` of that depth's best
    trial, and `trials` (how many completed at that depth). Empty without a depth parameter.

    Args:
        table: all trials (`report.trials_frame`).
    """
    columns = ["depth", METHOD, ACCURACY, PARAMS, "number", "trials"]
    if DEPTH not in table or not len(table):
        return pd.DataFrame(columns=columns)
    done = table[(table["state"] == "COMPLETE") & table[ACCURACY].notna()]
    done = done.assign(depth=done[DEPTH].astype(int), _size=done[PARAMS].fillna(float("inf")))
    keys = ["depth", METHOD] if METHOD in done else ["depth"]
    ranked = done.sort_values([ACCURACY, "_size", "number"], ascending=[False, True, True])
    best = ranked.groupby(keys, sort=True).head(1).set_index(keys)
    best["trials"] = done.groupby(keys).size()
    return best.reset_index()[[c for c in columns if c in best.reset_index()]].sort_values(keys)


def comparison_lines(address: str | None, uri: str) -> str:
    """What the end of a sweep prints last: how to open the UI over a local store, then the
    address of the comparison page (every trial, accuracy against trainable parameters).

    Args:
        address: the comparison page's address (`report.publish`), or `None`.
        uri: the tracking URI.
    """
    if address is None:
        return ""
    start = ""
    if not uri.startswith(("http://", "https://")):
        start = f"MLflow UI: mlflow ui --backend-store-uri {redact(uri)}  (then open:)\n"
    return f"{start}comparison of all trials: {address}"
