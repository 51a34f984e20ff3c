"""P9: the framework's time per trial late in a long sweep against early in it.

One simulated sweep (`trainer.simulate=surface`: the default sweep's sampler, pruner and MLflow
logging, no training) runs its first 200 trials, is fast-forwarded to 5,000 (`_fill_study`:
trials and runs added directly, hours of a 2-core machine saved), and runs trials 5,000-5,100
(the study's `n_trials` is its total: the same command, a larger total), each invocation
clocked by P5's probe. A trial's framework time is the wall time
from the previous trial's end to its own (within one invocation): all of it is the framework's,
since nothing trains. The sampler's own calls in that span are shown apart; so are the report
and the parent run's summary at the sweep's end, `freezesweep report`, and optuna-dashboard's
read of the study, at the final size.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezesweep.bench._common import PairResult
from freezesweep.bench._fill_study import fill_study
from freezesweep.bench._study_sweeps import probe_sweep, simulated_sweep_args, study_storage


@dataclass(frozen=True)
class Plan:
    """The trials compared (`[start, stop)` numbers) and the invocations' totals."""

    early: tuple[int, int]
    late: tuple[int, int]
    totals: tuple[int, ...]
    # Fast-forward (`_fill_study`) to this many trials before the last invocation, or 0.
    fill: int = 0


FULL = Plan((100, 200), (5000, 5100), (200, 5100), fill=5000)
QUICK = Plan((2, 6), (8, 12), (12,))  # what CI runs: one invocation, to prove it works
SLICES = 5  # each window cut in this many slices: the spread of the ratio


@dataclass(frozen=True)
class TrialCost:
    """One trial's framework seconds, and the sampler's part of them."""

    framework: float
    sampler: float


def trial_costs(records: Sequence[dict[str, Any]]) -> dict[int, TrialCost]:
    """Each trial's costs by number, from the probe's records of the invocations (the first
    trial of each invocation is left out: its span starts with the process)."""
    costs = {}
    for record in records:
        ends = [end for _start, end in record["spans"]]
        calls = sorted(record["sampler"])
        for i in range(1, len(ends)):
            number = record["numbers"][i]
            inside = [s for start, s in calls if ends[i - 1] < start <= ends[i]]
            costs[number] = TrialCost(ends[i] - ends[i - 1], sum(inside))
    return costs


def window(costs: dict[int, TrialCost], bounds: tuple[int, int]) -> list[TrialCost]:
    """The costs of the trials numbered in `[start, stop)`, in order."""
    return [costs[n] for n in range(*bounds) if n in costs]


def slice_ratios(early: list[float], late: list[float], slices: int = SLICES) -> tuple[float, ...]:
    """Median of each late slice / median of the early slice of the same rank."""
    size = min(len(early), len(late)) // slices
    if size == 0:
        return (statistics.median(late) / statistics.median(early),)
    return tuple(
        statistics.median(late[i * size : (i + 1) * size])
        / statistics.median(early[i * size : (i + 1) * size])
        for i in range(slices)
    )


def p9_many_trials(
    config_dir: Path, quick: bool, repeats: int, *, storage: str = "sqlite"
) -> PairResult:
    """Framework seconds per trial at the late window / at the early one (see the module)."""
    del repeats  # one long sweep; the spread is over slices of its windows
    plan = QUICK if quick else FULL
    name = "P9" if storage == "sqlite" else f"P9-{storage}"
    what = f"trials {plan.late[0]}-{plan.late[1]} / {plan.early[0]}-{plan.early[1]}"
    with tempfile.TemporaryDirectory() as text, contextlib.ExitStack() as stack:
        folder = Path(text)
        try:
            url = stack.enter_context(study_storage(storage, folder))
        except LookupError as error:
            return PairResult(name, f"skipped: {error}", (float("nan"),))
        records = []
        for total in plan.totals:
            if plan.fill and total == plan.totals[-1]:
                fill_study(config_dir, url, f"sqlite:///{folder / 'mlflow.db'}", plan.fill)
            arguments = simulated_sweep_args(config_dir, folder, url, total)
            records.append(probe_sweep(folder, arguments, f"upto{total}"))
            print(f"  {name}: {total} trials", file=sys.stderr, flush=True)
        reads = _reads(config_dir, folder, url)
    costs = trial_costs(records)
    early, late = window(costs, plan.early), window(costs, plan.late)
    ratios = slice_ratios([c.framework for c in early], [c.framework for c in late])
    return PairResult(
        name, f"simulated sweep on {storage}, framework s/trial at {what}", ratios,
        _note(early, late, records[-1]["hooks"], reads, plan.totals[-1]), unit="slices",
    )  # fmt: skip


def _note(
    early: list[TrialCost], late: list[TrialCost], hooks: dict[str, list[float]], reads: Any, n: int
) -> str:
    def ms(costs: list[TrialCost], part: str) -> str:
        values = sorted(getattr(c, part) for c in costs)
        deciles = statistics.quantiles(values, n=10) if len(values) > 1 else values * 9
        low, high = 1000 * deciles[0], 1000 * deciles[-1]
        return f"{1000 * statistics.median(values):.0f} ms (p10-p90 {low:.0f}-{high:.0f})"

    last = lambda key: hooks.get(key, [float("nan")])[-1]  # noqa: E731
    return (
        f"per trial early {ms(early, 'framework')}, late {ms(late, 'framework')}; the sampler's "
        f"own: early {ms(early, 'sampler')}, late {ms(late, 'sampler')}; at {n} trials: the "
        f"sweep's end {last('on_sweep_end'):.1f} s (trial table {last('trials_frame'):.1f} s, "
        f"parent run summary {last('parent_summary'):.1f} s and report "
        f"{last('parent_report'):.1f} s), `freezesweep report` {reads[0]:.1f} s, "
        f"optuna-dashboard's study read {reads[1]:.2f} s"
    )


def _reads(config_dir: Path, folder: Path, url: str) -> tuple[float, float]:
    """Seconds of `freezesweep report` (a process of its own) and of optuna-dashboard's API
    answer for the study (every trial, as its page loads them)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "freezesweep.cli", "report", "--study", "bench",
         "--storage", url, "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--config-dir", str(config_dir), "--output", str(folder / "report")],
        cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = time.perf_counter() - started
    return report, _dashboard_read(url)


def _dashboard_read(url: str) -> float:
    """optuna-dashboard's `GET /api/studies/<id>` (`nan` when it is not installed)."""
    try:
        from optuna_dashboard import wsgi
    except ImportError:
        return float("nan")
    import io
    from wsgiref.util import setup_testing_defaults

    from freezesweep.study.storage import hide_internal_studies, open_storage

    storage = hide_internal_studies(open_storage(url))
    app = wsgi(storage)
    study_id = storage.get_study_id_from_name("bench")
    environ: dict[str, Any] = {"PATH_INFO": f"/api/studies/{study_id}", "QUERY_STRING": "after=0"}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    started = time.perf_counter()
    body = b"".join(app(environ, lambda status, headers, *rest: None))
    seconds = time.perf_counter() - started
    if b'"trials"' not in body:
        raise RuntimeError(f"optuna-dashboard answered without trials: {body[:200]!r}")
    return seconds


def plot_costs(costs: dict[int, TrialCost], path: Path, title: str) -> Path:
    """Per-trial framework time and the sampler's part against the trial number (PNG)."""
    from freezesweep.plotting import new_figure, save_figure

    figure, axes = new_figure((7.0, 3.6))
    numbers = sorted(costs)
    axes.scatter(numbers, [costs[n].framework for n in numbers], s=4, label="framework, per trial")
    axes.scatter(numbers, [costs[n].sampler for n in numbers], s=4, label="the sampler's own part")
    axes.set_yscale("log")
    axes.set_xlabel("trial number")
    axes.set_ylabel("seconds")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    return save_figure(figure, path)
