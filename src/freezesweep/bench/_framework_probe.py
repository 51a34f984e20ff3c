"""P5's probe: a real `sweep.py -m` in this process, with clocks on what the framework does.

`python -m freezesweep.bench._framework_probe OUT.json SWEEP_PY ARGS...` runs the sweep as
`python SWEEP_PY ARGS...` would, after wrapping, for timing only:

- `run_trial` (each trial's span, start and end);
- inside a trial, every call that exists for MLflow (the `MlflowClient`, freezesweep's run
  handle and the start/end logging around it) or for Optuna (re-attaching the trial, the pruning
  callback's report and question);
- Hydra composing each job's config (a part of the time between trials, for the breakdown).

Everything between one trial's end and the next trial's start (Hydra's launcher, the sweeper's
ask and tell, the report hooks) is framework time by construction. The clocks are written to
OUT.json as the sweep ends; the bench turns them into P5's ratio (`p5_from_clocks`).
"""

from __future__ import annotations

import functools
import json
import runpy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Clocks:
    """Seconds per trial (in `run_trial` order) and a running total per framework category."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    numbers: list[int | None] = field(default_factory=list)  # each span's trial number
    inside: list[dict[str, float]] = field(default_factory=list)
    composes: list[tuple[float, float]] = field(default_factory=list)
    # Per trial, the seconds of `run_schedule` (its fits) less the framework calls inside it.
    train: list[float] = field(default_factory=list)
    # Outermost framework calls inside trials by name: [count, seconds] (for finding costs).
    calls: dict[str, list[float]] = field(default_factory=dict)
    # The sampler's own calls (suggesting a trial's values): (start, seconds) of each outermost.
    sampler: list[tuple[float, float]] = field(default_factory=list)
    # Whole sweeper hooks and report steps by name: their seconds, each call (`_clock_hooks`).
    hooks: dict[str, list[float]] = field(default_factory=dict)
    running: bool = False  # inside `run_trial` (the sweeper's hooks between trials are not)
    _depth: int = 0
    _sampling: bool = False

    def timed(self, category: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, its outermost calls inside a trial added to the trial's `category`."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._depth or not self.running:
                return function(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                seconds = time.perf_counter() - started
                slot = self.inside[-1]
                slot[category] = slot.get(category, 0.0) + seconds
                tally = self.calls.setdefault(function.__qualname__, [0, 0.0])
                tally[0] += 1
                tally[1] += seconds

        return wrapper


def install(clocks: Clocks) -> None:
    """Wrap the framework's entry points (by attribute, before `sweep.py` imports them)."""
    _clock_trial(clocks)
    _clock_tools(clocks)
    _clock_compose(clocks)
    _clock_sampler(clocks)
    _clock_hooks(clocks)


def _clock_sampler(clocks: Clocks) -> None:
    """Every sampler's suggesting calls (outermost only: TPE asks its own fallback sampler)."""
    import optuna

    names = ("infer_relative_search_space", "sample_relative", "sample_independent")
    for sampler in vars(optuna.samplers).values():
        if not (isinstance(sampler, type) and issubclass(sampler, optuna.samplers.BaseSampler)):
            continue
        for name in names:
            if name in vars(sampler):
                setattr(sampler, name, _sampling(clocks, vars(sampler)[name]))


def _sampling(clocks: Clocks, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if clocks._sampling:
            return function(*args, **kwargs)
        clocks._sampling = True
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            clocks._sampling = False
            clocks.sampler.append((started, time.perf_counter() - started))

    return wrapper


def _clock_hooks(clocks: Clocks) -> None:
    """The sweeper's hooks, and the report's and the parent run's parts of the sweep's end."""
    from freezesweep import tracking
    from freezesweep.study import hooks, report

    def clocked(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - started
                clocks.hooks.setdefault(name, []).append(seconds)

        return wrapper

    for name in ("on_sweep_start", "on_sweep_end", "preflight", "on_trial_end"):
        setattr(hooks, name, clocked(name, getattr(hooks, name)))
    report.trials_frame = clocked("trials_frame", report.trials_frame)
    tracking.summarize_study_run = clocked("parent_summary", tracking.summarize_study_run)
    tracking.publish_study_report = clocked("parent_report", tracking.publish_study_report)


def _clock_trial(clocks: Clocks) -> None:
    """The trial's span, and its training time less the tools' time inside it."""
    import freezesweep.trial as trial_module

    run_trial = trial_module.run_trial

    @functools.wraps(run_trial)
    def clocked_trial(*args: Any, **kwargs: Any) -> Any:
        clocks.inside.append({})
        clocks.numbers.append(args[0].trial.number if args else None)
        clocks.running = True
        started = time.perf_counter()
        try:
            return run_trial(*args, **kwargs)
        finally:
            clocks.spans.append((started, time.perf_counter()))
            clocks.running = False

    trial_module.run_trial = clocked_trial
    run_schedule = trial_module.run_schedule  # type: ignore[attr-defined]

    @functools.wraps(run_schedule)
    def clocked_schedule(*args: Any, **kwargs: Any) -> Any:
        before = sum(clocks.inside[-1].values())
        started = time.perf_counter()
        try:
            return run_schedule(*args, **kwargs)
        finally:
            inside = sum(clocks.inside[-1].values()) - before
            clocks.train.append(time.perf_counter() - started - inside)

    trial_module.run_schedule = clocked_schedule  # type: ignore[attr-defined]


def _clock_tools(clocks: Clocks) -> None:
    """MLflow's and Optuna's calls inside a trial."""
    from freezesweep import tracking, trial_context, trial_records
    from freezesweep.study import pruning
    from freezesweep.tracking import _trial_run

    # The client class the tracking package uses (only `freezesweep.tracking` imports mlflow).
    client_class = _trial_run.MlflowClient  # type: ignore[attr-defined]
    for name in dir(client_class):
        if not name.startswith("_") and callable(getattr(client_class, name)):
            setattr(client_class, name, clocks.timed("mlflow", getattr(client_class, name)))
    for name in ("log_params", "log_metrics", "set_tags", "log_text", "log_file", "end"):
        method = getattr(_trial_run.TrialRun, name)
        setattr(_trial_run.TrialRun, name, clocks.timed("mlflow", method))
    # What a run logs at its start, at each stage's end (the stage's summary) and at its end.
    for name in ("log_start", "log_end"):
        setattr(trial_records, name, clocks.timed("mlflow", getattr(trial_records, name)))
    make_stage_logger = trial_records.stage_logger

    def clocked_stage_logger(*args: Any, **kwargs: Any) -> Any:
        logger = make_stage_logger(*args, **kwargs)
        return None if logger is None else clocks.timed("mlflow", logger)

    trial_records.stage_logger = clocked_stage_logger
    for name in ("client_for", "_start", "_start_or_spool"):
        setattr(_trial_run, name, clocks.timed("mlflow", getattr(_trial_run, name)))
    tracking.check_store = clocks.timed("mlflow", tracking.check_store)
    trial_context.pruning_callback = clocks.timed("optuna", trial_context.pruning_callback)
    logic = pruning._PruningLogic
    logic.on_epoch_end = clocks.timed("optuna", logic.on_epoch_end)  # type: ignore[method-assign]


def _clock_compose(clocks: Clocks) -> None:
    from hydra_plugins.freezesweep_sweeper.jobs._config_reuse import ReusingConfigLoader

    # What the sweeper and its launcher call for each job (Hydra's composition, or a re-valued
    # copy of an earlier job's config).
    compose = ReusingConfigLoader.load_sweep_config

    @functools.wraps(compose)
    def clocked_compose(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return compose(*args, **kwargs)
        finally:
            clocks.composes.append((started, time.perf_counter() - started))

    ReusingConfigLoader.load_sweep_config = clocked_compose  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    out, script, *arguments = argv
    clocks = Clocks()
    install(clocks)
    sys.argv = [script, *arguments]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        record = {
            "spans": clocks.spans,
            "numbers": clocks.numbers,
            "inside": clocks.inside,
            "composes": clocks.composes,
            "train": clocks.train,
            "calls": clocks.calls,
            "sampler": clocks.sampler,
            "hooks": clocks.hooks,
        }
        with open(out, "w", encoding="utf-8") as file:
            json.dump(record, file)


if __name__ == "__main__":
    main(sys.argv[1:])


@dataclass(frozen=True)
class FrameworkShare:
    """P5 over the trials after the first: seconds per trial of the trials' own work, of their
    training, of the framework, and of its parts."""

    trial: float
    train: float
    framework: float
    mlflow: float
    optuna: float
    between: float
    compose: float

    @property
    def ratio(self) -> float:
        """(training + framework) / training: 1.03 is a framework costing 3 % of the training."""
        return (self.train + self.framework) / self.train

    @property
    def own_ratio(self) -> float:
        """(own work + framework) / own work, the trial's build, data and audit counted too."""
        return (self.trial + self.framework) / self.trial


def framework_share(record: dict[str, Any]) -> FrameworkShare:
    """What a probe's record says, over trials 2..n (the first carries the process's warm-up).

    The framework's time is the wall time from the first trial's end to the last one's, less
    the trials' own work (each trial's span less its MLflow and Optuna calls); the training is
    each trial's `run_schedule` less the framework calls inside it.
    """
    spans = [tuple(span) for span in record["spans"]]
    later = range(1, len(spans))
    if not later:
        raise ValueError("P5 needs at least two finished trials")
    own = [spans[i][1] - spans[i][0] - sum(record["inside"][i].values()) for i in later]
    wall = spans[-1][1] - spans[0][1]
    n = len(own)
    per = lambda key: sum(record["inside"][i].get(key, 0.0) for i in later) / n  # noqa: E731
    between = sum(spans[i][0] - spans[i - 1][1] for i in later) / n
    compose = sum(seconds for start, seconds in record["composes"] if start >= spans[0][1])
    return FrameworkShare(
        trial=sum(own) / n,
        train=sum(record["train"][i] for i in later) / n,
        framework=(wall - sum(own)) / n,
        mlflow=per("mlflow"),
        optuna=per("optuna"),
        between=between,
        compose=compose / n,
    )
